"""Seed the demo once: 200 customer-support prompts, two contestants, a lead and three reviewers.

Passwords are random, made on the first run and kept in var/demo-logins.txt (ignored by git) so
that later runs can print them again. Without GLOBAL_API_KEY the contestants point at the local
simulated endpoint (`make run` serves it) and every page showing their responses says so.
"""

import contextlib
import json
import os
import secrets
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings

from arena.imports import parse_jsonl
from arena.models import Campaign
from arena.services.campaigns import ContestantSpec, campaign_create, prompts_import, reviewers_add
from evalsite.private_files import write_private_file

DEMO_NAME = "Demo: Northwind Supply support answers"
PROMPTS_FILE = Path(__file__).resolve().parents[2] / "demo" / "prompts.jsonl"
GUIDELINES = """\
You are judging answers a support assistant gave to real customer messages of an online store.

Prefer the answer that **solves the customer's problem**: correct, specific, and safe.

- Correct and honest beats confident. An answer that invents a policy or an order status is bad.
- Specific next steps beat generic sympathy.
- Refusing something it must refuse (someone else's data, card numbers) is *good*.
- Length is not quality: a short complete answer beats a long padded one.
- Choose **Tie** when both are about equally good, **Both are bad** when neither would help.
"""


class Command(BaseCommand):
    help = "Create the demo campaign, a lead login and three reviewer logins (once), and print them."

    def handle(self, *args, **options):
        logins_file = settings.VAR_DIR / "demo-logins.txt"
        simulated = not os.environ.get(settings.GLOBAL_API_KEY_ENV)
        call_command("seed_catalog", verbosity=0)
        if not Campaign.objects.filter(name=DEMO_NAME).exists():
            with self._simulator_allowed(simulated=simulated):
                logins = self._seed(simulated=simulated)
            write_private_file(logins_file, json.dumps(logins))  # passwords: owner-only (0600)
        logins = json.loads(logins_file.read_text()) if logins_file.exists() else {}
        campaign = Campaign.objects.get(name=DEMO_NAME)
        source = (
            "the local SIMULATED endpoint (no GLOBAL_API_KEY set)"
            if campaign.is_simulated
            else (settings.GLOBAL_API_BASE_URL)
        )
        self.stdout.write(self.style.SUCCESS(f"\nDemo campaign #{campaign.pk}: {campaign.name} ({campaign.status})"))
        self.stdout.write(f"Model responses come from {source}.")
        self.stdout.write("Open http://127.0.0.1:8000/ and log in as:")
        for username, info in logins.items():
            self.stdout.write(f"  {info['role']:<9} {username:<10} password: {info['password']}")
        self.stdout.write(
            "As the lead: Admin > Campaigns > select the demo > 'Generate responses', then 'Open for review'.\n"
        )

    def _simulator_allowed(self, *, simulated: bool):
        """The demo's loopback simulator added to the endpoint allow-list, for this command only.

        Loopback is refused unless listed (arena/endpoints.py); the demo lists its own simulator
        explicitly, here for the campaign it creates and in Procfile.dev for the web and worker
        processes that `make run` starts.
        """
        if not simulated:
            return contextlib.nullcontext()
        simulator = urlsplit(settings.SIMULATED_API_BASE_URL)
        return override_settings(LLM_ALLOWED_HOSTS=[*settings.LLM_ALLOWED_HOSTS, simulator.netloc])

    @transaction.atomic
    def _seed(self, *, simulated: bool) -> dict:
        User = get_user_model()
        logins = {}
        lead, _ = User.objects.get_or_create(username="lead", defaults={"is_staff": True})
        password = secrets.token_urlsafe(9)
        lead.is_staff = True
        lead.set_password(password)
        lead.save()
        lead.user_permissions.add(*Permission.objects.filter(content_type__app_label="arena"))
        lead.user_permissions.add(*Permission.objects.filter(codename__in=["view_user"]))
        logins["lead"] = {"role": "lead", "password": password}
        for name in ("alice", "bob", "carol"):
            user, _ = User.objects.get_or_create(username=name)
            password = secrets.token_urlsafe(9)
            user.set_password(password)
            user.save()
            logins[name] = {"role": "reviewer", "password": password}
        base_url = settings.SIMULATED_API_BASE_URL if simulated else ""
        campaign = campaign_create(
            name=DEMO_NAME,
            created_by=lead,
            guidelines=GUIDELINES,
            votes_per_comparison=3,
            system_prompt="You are a helpful, accurate support agent for Northwind Supply, an online store.",
            temperature=0.7,
            max_tokens=600,
            seed=7,
            contestants=[
                ContestantSpec(
                    label="DeepSeek V4 Flash",
                    model="deepseek-v4-flash",
                    base_url=base_url,
                    price_per_mtok_out=Decimal("0.25"),
                ),
                ContestantSpec(
                    label="Qwen3 32B", model="Qwen/Qwen3-32B", base_url=base_url, price_per_mtok_out=Decimal("0.28")
                ),
            ],
        )
        rows = parse_jsonl(PROMPTS_FILE.read_text(encoding="utf-8"), filename=PROMPTS_FILE.name)
        prompts_import(campaign=campaign, rows=rows)
        reviewers_add(campaign=campaign, usernames=["alice", "bob", "carol"])
        return logins
