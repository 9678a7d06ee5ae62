"""When does a customer need a person? Signals, a learned frustration score and a policy (#15).

Pure Python (numpy-free at run time): it imports nothing from ``cases``, ``queues`` or Django,
so the assess endpoint, the intake and the benchmark share it. Training needs scikit-learn;
scoring reads the JSON artefact ``model.json`` beside this file.
"""
