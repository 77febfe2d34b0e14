"""factory-boy factories for tests and benchmarks."""

from decimal import Decimal

import factory

from deals.models import Account, Contact, Deal, Pipeline, Stage
from teams.models import Membership, Team, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.LazyAttribute(lambda o: o.username.capitalize())
    email = factory.LazyAttribute(lambda o: f"{o.username}@closedlost.invalid")
    password = factory.django.Password("a-long-test-password")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.REP


class PipelineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pipeline
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Pipeline {n}")


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stage

    pipeline = factory.SubFactory(PipelineFactory)
    name = factory.Sequence(lambda n: f"Stage {n}")
    order = factory.Sequence(lambda n: n + 1)
    win_probability = 50


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    industry = "Software"
    employees = 250


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.Sequence(lambda n: f"contact{n}@buyer.example")


class DealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deal

    name = factory.Sequence(lambda n: f"Deal {n}")
    account = factory.SubFactory(AccountFactory)
    owner = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    stage = factory.SubFactory(StageFactory)
    pipeline = factory.SelfAttribute("stage.pipeline")
    amount = Decimal("12000.00")
    currency = "USD"
