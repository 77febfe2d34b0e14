"""Demo data: users, teams, a pipeline and a few hundred deals over the last 18 months.

Safe to run again: users get their documented passwords back; deals are created once
(pass --reset to delete the demo deals and build them anew).
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from deals import services
from deals.models import Account, Closure, ClosureSecondaryReason, Contact, Deal, DealEvent, Pipeline, Stage
from reasons.models import Competitor, Reason
from reasons.taxonomy import load_starter_taxonomy_now
from teams.models import Membership, Team, User

PEOPLE = [
    # username, first, last, role, team, membership role
    ("alice", "Alice", "Archer", User.Role.REP, "East", Membership.Role.REP),
    ("erin", "Erin", "Ellis", User.Role.REP, "East", Membership.Role.REP),
    ("bob", "Bob", "Baker", User.Role.MANAGER, "East", Membership.Role.MANAGER),
    ("dave", "Dave", "Dalton", User.Role.REP, "West", Membership.Role.REP),
    ("frank", "Frank", "Fischer", User.Role.REP, "West", Membership.Role.REP),
    ("grace", "Grace", "Gomez", User.Role.MANAGER, "West", Membership.Role.MANAGER),
    ("carol", "Carol", "Chen", User.Role.ADMIN, None, None),
]
STAGES = [
    ("Qualification", 10),
    ("Discovery", 20),
    ("Demo", 40),
    ("Proposal", 60),
    ("Negotiation", 80),
    ("Commit", 90),
]
INDUSTRIES = [
    "Software",
    "Manufacturing",
    "Healthcare",
    "Retail",
    "Financial services",
    "Logistics",
    "Education",
]
COMPANY_WORDS = [
    "Apex",
    "Birch",
    "Cobalt",
    "Delta",
    "Ember",
    "Fjord",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Maple",
    "Nimbus",
    "Onyx",
    "Pioneer",
    "Quartz",
    "Ridge",
    "Summit",
    "Tidal",
]
COMPANY_SUFFIXES = ["Labs", "Systems", "Group", "Health", "Logistics", "Retail", "Partners", "Industries"]
DEAL_WORDS = ["Platform rollout", "Team licences", "Expansion", "Pilot", "Renewal upsell", "Enterprise plan"]
# Lost reasons, weighted as a real team's losses tend to fall.
LOSS_WEIGHTS = {
    "price-too-high": 14, "no-budget": 9, "value-not-proven": 7, "competitor-better-fit": 12,
    "competitor-cheaper": 9, "incumbent-renewed": 5, "missing-feature": 10, "no-need": 5,
    "integration-gap": 4, "bad-timing": 8, "reorganisation": 3, "champion-left": 4,
    "no-decision-maker-access": 3, "procurement-blocked": 3, "went-dark": 6, "other-loss": 2,
}  # fmt: skip
NOTES = [
    "They asked for a discount we could not give this quarter.",
    "The buyer said the rollout will wait until the new budget year.",
    "Security review flagged the SSO setup and they ran out of time.",
    "Champion moved to another company; the new lead did not engage.",
]
PASSWORD_PREFIX = "closedlost-"  # noqa: S105 - documented demo passwords


class Command(BaseCommand):
    help = "Load demo users, teams, a pipeline and a few hundred deals with realistic closures."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="Delete the deals and build them again.")
        parser.add_argument("--deals", type=int, default=400, help="How many deals to create (default 400).")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--force-in-production",
            action="store_true",
            help="Run even under DJANGO_PRODUCTION=1 (it creates users whose passwords README prints).",
        )

    def handle(self, *args, reset: bool, deals: int, seed: int, force_in_production: bool, **options):
        if settings.PRODUCTION and not force_in_production:
            raise CommandError(
                "seed_demo creates users with the passwords README prints; it does not run with "
                "production settings (DJANGO_PRODUCTION=1). Pass --force-in-production if you mean it."
            )
        load_starter_taxonomy_now()
        users = self._people()
        pipeline = self._pipeline()
        if reset:
            self._delete_deals()
        if Deal.objects.exists():
            self.stdout.write(
                "Demo deals already exist; users and passwords refreshed (use --reset to rebuild)."
            )
            return
        rng = random.Random(seed)
        with transaction.atomic():
            accounts = self._accounts(rng)
            created = self._deals(rng, deals, users, pipeline, accounts)
        self.stdout.write(self.style.SUCCESS(f"Created {created} demo deals."))
        for username, *_ in PEOPLE:
            self.stdout.write(f"  {username} / {PASSWORD_PREFIX}{username}")

    def _people(self) -> dict[str, User]:
        users = {}
        for username, first, last, role, team_name, membership_role in PEOPLE:
            user, _ = User.objects.get_or_create(username=username)
            user.first_name, user.last_name, user.role = first, last, role
            user.email = f"{username}@closedlost.invalid"
            user.is_staff = user.is_superuser = role == User.Role.ADMIN
            user.set_password(f"{PASSWORD_PREFIX}{username}")
            user.save()
            if team_name:
                team, _ = Team.objects.get_or_create(name=team_name)
                Membership.objects.update_or_create(team=team, user=user, defaults={"role": membership_role})
            users[username] = user
        return users

    def _pipeline(self) -> Pipeline:
        pipeline, _ = Pipeline.objects.get_or_create(name="New business")
        for order, (name, probability) in enumerate(STAGES, start=1):
            Stage.objects.get_or_create(
                pipeline=pipeline, order=order, defaults={"name": name, "win_probability": probability}
            )
        return pipeline

    def _delete_deals(self) -> None:
        # Demo only: history is append-only in production (a trigger on PostgreSQL refuses this).
        from django.db import connection

        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("TRUNCATE deals_dealevent")
            else:
                DealEvent.objects.all().delete()
            ClosureSecondaryReason.objects.all().delete()
            Closure.objects.all().delete()
            Deal.contacts.through.objects.all().delete()
            Deal.objects.all().delete()

    def _accounts(self, rng: random.Random) -> list[Account]:
        accounts = []
        for index in range(60):
            name = f"{COMPANY_WORDS[index % 20]} {COMPANY_SUFFIXES[(index * 7) % 8]}"
            account, _ = Account.objects.get_or_create(
                name=name,
                defaults={
                    "industry": rng.choice(INDUSTRIES),
                    "employees": rng.choice([25, 80, 250, 900, 4000]),
                },
            )
            if not account.contacts.exists():
                first = rng.choice(["Sam", "Noor", "Lee", "Ana", "Tom", "Mia", "Raj", "Eva"])
                Contact.objects.create(
                    account=account,
                    name=f"{first} {name.split()[0]}son",
                    email=f"{first.lower()}@{name.split()[0].lower()}.example",
                    title=rng.choice(["Head of Sales", "CFO", "VP Operations", "IT Director"]),
                )
            accounts.append(account)
        return accounts

    def _deals(self, rng, count, users, pipeline, accounts) -> int:
        stages = list(pipeline.stages.order_by("order"))
        reps = [users[name] for name in ("alice", "erin", "dave", "frank")]
        teams = {m.user_id: m.team for m in Membership.objects.select_related("team")}
        reasons = {r.code: r for r in Reason.objects.filter(active=True)}
        by_kind = {
            kind: [r for r in reasons.values() if r.kind == kind and not r.requires_note]
            for kind in ("win", "no_decision")
        }
        competitors = list(Competitor.objects.filter(active=True))
        now = timezone.now()
        # Only reasons still active: an admin may have retired or merged a starter reason.
        weighted = [(code, weight) for code, weight in LOSS_WEIGHTS.items() if code in reasons]
        if not weighted:
            weighted = [(r.code, 1) for r in reasons.values() if r.kind == "loss" and not r.requires_note]
        loss_codes, loss_weights = zip(*weighted, strict=True)
        for index in range(count):
            owner = reps[index % len(reps)]
            account = rng.choice(accounts)
            created_at = now - timedelta(days=rng.uniform(5, 545), hours=rng.uniform(0, 23))
            amount = Decimal(rng.choice([4, 6, 8, 12, 18, 25, 40, 60, 90])) * 1000 + rng.randrange(0, 1000)
            deal = services.deal_create(
                name=f"{account.name}: {rng.choice(DEAL_WORDS)}",
                account=account,
                owner=owner,
                team=teams[owner.pk],
                stage=rng.choice(stages[:4]),
                amount=amount,
                currency=rng.choices(["USD", "EUR", "GBP"], weights=[70, 20, 10])[0],
                created_at=created_at,
                expected_close_date=(created_at + timedelta(days=rng.randint(30, 120))).date(),
            )
            deal.contacts.add(account.contacts.first())
            cycle = timedelta(days=rng.uniform(12, 160))
            closed_at = created_at + cycle
            if closed_at > now - timedelta(days=1) or rng.random() < 0.12:
                if rng.random() < 0.5:
                    moved_at = min(now, created_at + cycle / 3)
                    services.deal_change_stage(
                        deal=deal, stage=rng.choice(stages[1:]), actor=owner, changed_at=moved_at
                    )
                continue  # still open
            services.deal_change_stage(
                deal=deal, stage=rng.choice(stages), actor=owner, changed_at=created_at + cycle / 2
            )
            roll = rng.random()
            if roll < 0.47:
                reason = reasons[rng.choices(loss_codes, weights=loss_weights)[0]]
                services.deal_mark_lost(
                    deal=deal,
                    reason=reason,
                    actor=owner,
                    competitor=rng.choice(competitors) if reason.requires_competitor else None,
                    note=rng.choice(NOTES) if reason.requires_note or rng.random() < 0.3 else "",
                    revisit_on=(closed_at + timedelta(days=reason.reopen_after_days)).date()
                    if reason.reopen_after_days
                    else None,
                    closed_at=closed_at,
                )
                # Some losses come back: reopened after a while and sometimes won.
                reopen_at = closed_at + timedelta(days=rng.uniform(20, 120))
                if rng.random() < 0.12 and reopen_at < now - timedelta(days=2):
                    services.deal_reopen(deal=deal, actor=owner, reopened_at=reopen_at)
                    won_at = reopen_at + timedelta(days=rng.uniform(5, 40))
                    if rng.random() < 0.6 and won_at < now:
                        reason = rng.choice(by_kind["win"][:4])
                        services.deal_mark_won(
                            deal=deal,
                            reason=reason,
                            actor=owner,
                            competitor=rng.choice(competitors) if reason.requires_competitor else None,
                            closed_at=won_at,
                        )
            elif roll < 0.82:
                reason = rng.choice(by_kind["win"][:4])
                services.deal_mark_won(
                    deal=deal,
                    reason=reason,
                    actor=owner,
                    competitor=rng.choice(competitors) if reason.requires_competitor else None,
                    closed_at=closed_at,
                )
            else:
                reason = rng.choice(by_kind["no_decision"][:4])
                services.deal_mark_no_decision(deal=deal, reason=reason, actor=owner, closed_at=closed_at)
        return count
