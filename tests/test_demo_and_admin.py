"""The demo seed and the lead's admin pages: import, progress bars, life-cycle actions."""

import pytest
from django.core.management import call_command
from django.test import Client

from arena.models import Campaign, CampaignReviewer, Comparison
from tests.factories import add_reviewers, generate_done, make_campaign, make_open_campaign, open_campaign


@pytest.mark.django_db
def test_seed_demo_creates_the_campaign_logins_and_200_prompts_once(capsys, monkeypatch):
    monkeypatch.delenv("GLOBAL_API_KEY", raising=False)
    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out
    campaign = Campaign.objects.get()
    assert campaign.prompts.count() == 200
    assert len(set(campaign.prompts.values_list("category", flat=True))) == 8
    assert [c.label for c in campaign.contestants.all()] == ["DeepSeek V4 Flash", "Qwen3 32B"]
    assert campaign.is_simulated
    assert sorted(campaign.reviewers.values_list("username", flat=True)) == ["alice", "bob", "carol"]
    for name in ("lead", "alice", "bob", "carol"):
        assert name in first
    assert "SIMULATED" in first
    # The second run seeds nothing new and prints the same logins.
    assert first.split("Open http")[1] == second.split("Open http")[1]


@pytest.mark.django_db
def test_demo_lead_can_log_in_to_admin_with_the_printed_password(capsys):
    call_command("seed_demo")
    out = capsys.readouterr().out
    password = next(line.split("password: ")[1] for line in out.splitlines() if line.strip().startswith("lead"))
    client = Client()
    # Through the login form, as the lead would (Client.login() passes no request to
    # authenticate(), which the login throttling needs).
    assert client.post("/accounts/login/", {"username": "lead", "password": password}).status_code == 302
    assert client.get("/admin/arena/campaign/").status_code == 200


@pytest.fixture
def lead_browser(lead):
    client = Client()
    client.force_login(lead)
    return client


@pytest.mark.django_db
def test_admin_campaign_list_shows_progress_bars(lead_browser):
    campaign = make_campaign(prompts=3)
    open_campaign(campaign)
    page = lead_browser.get("/admin/arena/campaign/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "6 / 6" in html  # responses done / total
    assert "0 / 9" in html  # votes / target (3 comparisons x k=3)


@pytest.mark.django_db
def test_admin_import_rejects_a_bad_file_with_its_line_and_keeps_the_campaign(lead_browser):
    from django.core.files.uploadedfile import SimpleUploadedFile

    campaign = make_campaign(prompts=1)
    bad = SimpleUploadedFile("p.jsonl", b'{"text": "ok"}\n{"text": 5}\n')
    page = lead_browser.post(f"/admin/arena/campaign/{campaign.pk}/import/", {"file": bad})
    assert page.status_code == 200
    assert "p.jsonl, line 2" in page.content.decode()
    assert campaign.prompts.count() == 1
    good = SimpleUploadedFile("p.csv", b"text,category\nWhere is it?,shipping\n")
    page = lead_browser.post(f"/admin/arena/campaign/{campaign.pk}/import/", {"file": good})
    assert page.status_code == 302
    assert campaign.prompts.count() == 2


@pytest.mark.django_db
def test_admin_open_action_on_a_draft_reports_why_it_cannot(lead_browser):
    campaign = make_campaign(prompts=2)
    page = lead_browser.post(
        "/admin/arena/campaign/", {"action": "action_open", "_selected_action": [campaign.pk]}, follow=True
    )
    assert "cannot move the campaign to open from draft" in page.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "draft"


@pytest.mark.django_db
def test_admin_open_action_opens_a_ready_campaign_and_says_how_many_comparisons(lead_browser):
    campaign = make_campaign(prompts=2)
    generate_done(campaign)
    page = lead_browser.post(
        "/admin/arena/campaign/", {"action": "action_open", "_selected_action": [campaign.pk]}, follow=True
    )
    assert f"{campaign}: opened for review (2 comparisons built)." in page.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "open"


@pytest.mark.django_db
def test_admin_gold_action_marks_each_selected_comparison_and_counts_them(lead_browser):
    first, second, third = open_campaign(make_campaign(prompts=3))
    page = lead_browser.post(
        "/admin/arena/comparison/",
        {"action": "action_gold_tie", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert "2 comparison(s) marked gold tie." in page.content.decode()
    assert list(Comparison.objects.order_by("id").values_list("gold", flat=True)) == ["tie", "tie", ""]


@pytest.mark.django_db
def test_admin_exclude_action_excludes_the_selected_reviewer_only(lead_browser):
    campaign = make_open_campaign(prompts=1)
    add_reviewers(campaign, "rita", "ravi")
    rita = CampaignReviewer.objects.get(campaign=campaign, user__username="rita")
    page = lead_browser.post(
        "/admin/arena/campaignreviewer/", {"action": "action_exclude", "_selected_action": [rita.pk]}, follow=True
    )
    assert "1 reviewer(s) excluded." in page.content.decode()
    excluded = dict(CampaignReviewer.objects.values_list("user__username", "excluded"))
    assert excluded == {"rita": True, "ravi": False}


@pytest.mark.django_db
def test_admin_campaign_list_shows_speed_and_eta_while_generating(lead_browser):
    from django.utils import timezone

    from arena.models import Response

    campaign = make_campaign(prompts=4, status="generating")
    now = timezone.now()
    for prompt in campaign.prompts.all():
        for contestant in campaign.contestants.all():
            done = prompt.position <= 2
            Response.objects.create(
                campaign=campaign,
                prompt=prompt,
                contestant=contestant,
                status="done" if done else "pending",
                completed_at=now if done else None,
                attempts=1 if done else 0,
            )
    html = lead_browser.get("/admin/arena/campaign/").content.decode()
    assert "calls/s, ETA" in html
    assert "4 / 8" in html


# --- Admin goes through campaign_check, the API's rules ------------------------------------------


def campaign_form(name="Support answers", contestants=(), **fields) -> dict:
    """The admin add/change form as a browser posts it: the campaign, its contestants, no reviewers."""
    data = {
        "name": name,
        "guidelines": "",
        "votes_per_comparison": "3",
        "pairing": "all_pairs",
        "min_seconds_per_vote": "3",
        "system_prompt": "",
        "temperature": "0.7",
        "max_tokens": "1024",
        "seed": "",
        "extra_params": "{}",
        "expected_output_tokens": "400",
        "budget_usd": "",
        "stopping": "fixed",
        "alpha": "0.05",
        "equivalence_margin": "0.05",
        "power_share": "0.55",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "criteria-TOTAL_FORMS": "0",
        "criteria-INITIAL_FORMS": "0",
        "judge_mode": "off",
        "hybrid_share": "0.2",
        "judges-TOTAL_FORMS": "0",
        "judges-INITIAL_FORMS": "0",
        "contestants-TOTAL_FORMS": str(len(contestants)),
        "contestants-INITIAL_FORMS": str(sum(1 for c in contestants if c.get("id"))),
        **fields,
    }
    for i, contestant in enumerate(contestants):
        row = {
            "position": str(i),
            "base_url": "",
            "api_key_env": "",
            "price_per_mtok_out": "0",
            "price_per_mtok_in": "0",
            "max_concurrency": "16",
            "requests_per_minute": "",
            "tokens_per_minute": "",
            "extra_params": "{}",
            **contestant,
        }
        data.update({f"contestants-{i}-{key}": value for key, value in row.items()})
    return data


GOOD_PAIR = [{"label": "Model A", "model": "model-a"}, {"label": "Model B", "model": "model-b"}]


@pytest.mark.django_db
def test_admin_creates_a_campaign_whose_contestants_pass_the_api_rules(lead_browser):
    page = lead_browser.post("/admin/arena/campaign/add/", campaign_form(contestants=GOOD_PAIR))
    assert page.status_code == 302, page.content.decode()[:2000]
    assert [c.label for c in Campaign.objects.get().contestants.all()] == ["Model A", "Model B"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("contestants", "name", "message"),
    [
        ([GOOD_PAIR[0], {**GOOD_PAIR[1], "api_key_env": "SECRET_KEY"}], "Support", "LLM_ALLOWED_KEY_ENVS"),
        ([GOOD_PAIR[0], {**GOOD_PAIR[1], "base_url": "http://169.254.169.254/v1"}], "Support", "cloud metadata"),
        ([GOOD_PAIR[0], {**GOOD_PAIR[1], "label": "Model A"}], "Support", "duplicate data for label"),
        (GOOD_PAIR, "Is Model B better?", "which reviewers would see"),
        ([GOOD_PAIR[0], {**GOOD_PAIR[1], "max_concurrency": "1000"}], "Support", "between 1 and 256"),
    ],
)
def test_admin_refuses_a_bad_contestant_with_the_reason_on_the_form_and_saves_nothing(
    lead_browser, contestants, name, message
):
    page = lead_browser.post("/admin/arena/campaign/add/", campaign_form(name=name, contestants=contestants))
    assert page.status_code == 200
    assert message in page.content.decode()
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_admin_refuses_to_point_an_existing_contestant_at_a_host_off_the_list(lead_browser):
    campaign = make_campaign(prompts=1)
    rows = [
        {"id": str(c.pk), "campaign": str(campaign.pk), "label": c.label, "model": c.model}
        for c in campaign.contestants.all()
    ]
    rows[0]["base_url"] = "https://collector.example/v1"
    page = lead_browser.post(
        f"/admin/arena/campaign/{campaign.pk}/change/", campaign_form(name=campaign.name, contestants=rows)
    )
    assert page.status_code == 200
    assert "not an allowed model endpoint" in page.content.decode()
    assert set(campaign.contestants.values_list("base_url", flat=True)) == {""}


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["invite", "response", "assignment", "vote"])
def test_admin_cannot_add_rows_only_the_services_write(lead_browser, model):
    assert lead_browser.get(f"/admin/arena/{model}/add/").status_code == 403


@pytest.mark.django_db
def test_admin_shows_a_response_with_every_field_read_only(lead_browser):
    campaign = make_campaign(prompts=1)
    generate_done(campaign)
    response = campaign.responses.first()
    page = lead_browser.get(f"/admin/arena/response/{response.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert response.text in html
    assert 'name="text"' not in html and 'name="status"' not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("extra_params", '{"note": "a\\u0000b"}', "note holds a NUL character"),
        ("contestant", '{"stop": ["x", "\\u0000"]}', "stop[1] holds a NUL character"),
        ("extra_params", "[" * 1000 + "]" * 1000, "nested deeper than"),
    ],
)
def test_admin_refuses_json_the_database_cannot_store_with_the_reason_on_the_form(lead_browser, field, value, message):
    """A NUL inside a JSON string (PostgreSQL cannot store it) and JSON nested 1,000 deep (the
    decoder would recurse) are form errors naming the key, not a 500; nothing is saved."""
    if field == "contestant":  # the second contestant's extra_params, in the inline
        form = campaign_form(contestants=[GOOD_PAIR[0], {**GOOD_PAIR[1], "extra_params": value}])
    else:
        form = campaign_form(contestants=GOOD_PAIR, **{field: value})
    page = lead_browser.post("/admin/arena/campaign/add/", form)
    assert page.status_code == 200
    assert message in page.content.decode()
    assert not Campaign.objects.exists()
