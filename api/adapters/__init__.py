"""Bot platforms' own handoff formats (Bot Framework, Dialogflow CX, Sunshine Conversations,
Botpress, Rasa), one module each: each maps its platform's payload to the one handoff package
(cases/package.py) and says in ``missing_context`` what that format could not carry, so routing,
detectors, metrics and the case page work unchanged."""
