"""What is sent to a model and what it costs, from the frozen settings alone: no database.

The campaign and contestants are unsaved model instances: `settings_freeze` reads their fields
and nothing else. The end-to-end check that these bodies are what the model API receives is in
tests/test_generation_engine.py.
"""

from decimal import Decimal

from arena.generation_requests import (
    output_cost_estimate,
    request_build,
    request_tokens_estimate,
    response_cost,
    served_model_matches,
    settings_freeze,
    usd,
)
from arena.models import Campaign, Contestant

FROZEN_AT = "2026-01-01T00:00:00+00:00"


def a_campaign(**fields) -> Campaign:
    defaults = {"system_prompt": "Be brief.", "temperature": 0.3, "max_tokens": 64, "seed": 5, "extra_params": {}}
    return Campaign(**{**defaults, **fields})


def a_contestant(pk: int, **fields) -> Contestant:
    defaults = {
        "label": f"model {pk}",
        "model": f"model-{pk}",
        "base_url": "https://models.example/v1/",
        "api_key_env": "EXAMPLE_KEY",
        "price_per_mtok_out": Decimal("2.50"),
        "price_per_mtok_in": Decimal("0.50"),
    }
    return Contestant(pk=pk, **{**defaults, **fields})


def test_freezing_records_the_campaign_settings_and_each_contestant_endpoint_and_prices():
    frozen = settings_freeze(a_campaign(), [a_contestant(7)], None, frozen_at=FROZEN_AT)

    assert (frozen["system_prompt"], frozen["temperature"], frozen["max_tokens"], frozen["seed"]) == (
        "Be brief.",
        0.3,
        64,
        5,
    )
    assert frozen["frozen_at"] == FROZEN_AT
    assert frozen["contestants"]["7"] == {
        "label": "model 7",
        "model": "model-7",
        "base_url": "https://models.example/v1",  # the trailing slash goes: paths are appended
        "api_key_env": "EXAMPLE_KEY",
        "simulated": False,
        "extra_params": {},
        "price_per_mtok_out": "2.50",
        "price_per_mtok_in": "0.50",
    }


def test_freezing_again_adds_new_contestants_and_changes_nothing_already_frozen():
    first = settings_freeze(a_campaign(), [a_contestant(7)], None, frozen_at=FROZEN_AT)

    edited = a_campaign(system_prompt="Be verbose.", temperature=1.5)
    repriced = a_contestant(7, price_per_mtok_out=Decimal("9"), model="model-7-renamed")
    again = settings_freeze(edited, [repriced, a_contestant(8)], first, frozen_at="2026-02-02T00:00:00+00:00")

    assert (again["system_prompt"], again["temperature"], again["frozen_at"]) == ("Be brief.", 0.3, FROZEN_AT)
    assert again["contestants"]["7"] == first["contestants"]["7"]
    assert again["contestants"]["8"]["model"] == "model-8"
    assert set(first["contestants"]) == {"7"}  # the earlier freeze is not written into


def test_the_request_has_the_system_prompt_first_then_the_prompt_and_the_frozen_settings():
    frozen = settings_freeze(a_campaign(), [a_contestant(7)], None, frozen_at=FROZEN_AT)

    body = request_build(frozen=frozen, contestant=frozen["contestants"]["7"], prompt_text="Hi?", prompt_messages=None)

    assert body == {
        "model": "model-7",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}],
        "temperature": 0.3,
        "max_tokens": 64,
        "seed": 5,
    }


def test_a_conversation_prompt_is_sent_as_its_messages_and_unset_settings_are_left_out():
    frozen = settings_freeze(
        a_campaign(system_prompt="", temperature=None, seed=None), [a_contestant(7)], None, frozen_at=FROZEN_AT
    )
    conversation = [{"role": "user", "content": "Late parcel."}, {"role": "assistant", "content": "Which order?"}, {}]

    body = request_build(
        frozen=frozen, contestant=frozen["contestants"]["7"], prompt_text="", prompt_messages=conversation
    )

    assert body["messages"] == [
        {"role": "user", "content": "Late parcel."},
        {"role": "assistant", "content": "Which order?"},
        {"role": "user", "content": ""},
    ]
    assert "temperature" not in body and "seed" not in body and body["max_tokens"] == 64


def test_contestant_extras_override_the_campaign_and_cannot_stream_or_replace_model_or_messages():
    campaign = a_campaign(extra_params={"top_p": 0.5, "presence_penalty": 0.1, "stream": True})
    contestant = a_contestant(7, extra_params={"top_p": 0.9, "model": "other", "messages": []})
    frozen = settings_freeze(campaign, [contestant], None, frozen_at=FROZEN_AT)

    body = request_build(frozen=frozen, contestant=frozen["contestants"]["7"], prompt_text="Hi?", prompt_messages=None)

    assert (body["top_p"], body["presence_penalty"]) == (0.9, 0.1)
    assert "stream" not in body
    assert body["model"] == "model-7" and body["messages"][-1] == {"role": "user", "content": "Hi?"}


def test_a_dated_snapshot_of_the_asked_model_matches_and_another_model_does_not():
    assert served_model_matches("gpt-4o", "gpt-4o-2024-08-06")
    assert served_model_matches("gpt-4o", "GPT-4o")
    assert served_model_matches("claude-3", "claude-3-20240229")
    assert served_model_matches("gpt-4o", "")  # nothing reported: nothing to flag
    assert not served_model_matches("gpt-4o", "gpt-4o-mini")
    assert not served_model_matches("deepseek-v4-flash", "deepseek-v3-cheaper")


def test_an_answer_costs_its_input_and_output_tokens_at_the_frozen_prices():
    contestant = {"price_per_mtok_out": "2.50", "price_per_mtok_in": "0.50"}

    # By hand: 1,500 x $2.50 / 1M = $0.00375 and 1,000 x $0.50 / 1M = $0.0005.
    assert response_cost(input_tokens=1000, output_tokens=1500, contestant=contestant) == Decimal("0.004250")
    assert response_cost(input_tokens=1000, output_tokens=1500, contestant={"price_per_mtok_out": "2.50"}) == Decimal(
        "0.00375"
    )
    # 4,000 x $0.25 / 1M = $0.001.
    assert output_cost_estimate(output_tokens=4000, price_per_mtok_out=Decimal("0.25")) == Decimal("0.001")


def test_the_tokens_reserved_before_a_call_are_a_quarter_of_the_sent_characters_plus_the_answer_limit():
    body = {"messages": [{"role": "user", "content": "x" * 100}], "max_tokens": 64}
    sent = len('[{"role": "user", "content": "' + "x" * 100 + '"}]')

    assert request_tokens_estimate(body) == sent // 4 + 64
    assert request_tokens_estimate({"messages": []}) == len("[]") // 4 + 1024  # no limit set: assume 1,024


def test_a_sum_of_costs_is_given_at_the_stored_precision():
    assert str(usd(0.0092049999999)) == "0.009205"
    assert usd(None) == Decimal("0")
