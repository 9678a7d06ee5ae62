"""What the database itself guarantees (cases/models.py constraints)."""

from __future__ import annotations

import pytest

from cases.models import Case
from tests.factories import full_package

pytestmark = pytest.mark.django_db

HANDOFFS = "/api/v1/handoffs"


def test_the_database_refuses_two_open_cases_for_one_conversation(api, integration):
    from django.db import IntegrityError, transaction

    case = Case.objects.get(pk=api.post(HANDOFFS, full_package()).json()["case_id"])
    case.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        case.save()
