"""What the bench scripts share that is not the pipeline harness (bench/pipeline.py) nor the
scratch database (bench/scratch_database.py), imported as `bench._common` (each script puts the
checkout's root on sys.path).
"""


def done_response(campaign, prompt_id: int, contestant, text: str, **fields):
    """An unsaved, done Response of `contestant` to the prompt, with `text` (and `fields`), as a
    seeded campaign stores it without generating anything."""
    from arena.models import Response

    if any(f.name == "style" for f in Response._meta.concrete_fields):  # not in checkouts before 8fdcbb6
        from arena.style_features import style_counts

        fields.setdefault("style", list(style_counts(text)))  # as the engine stores a done answer
    return Response(
        campaign=campaign, prompt_id=prompt_id, contestant=contestant, status=Response.Status.DONE, text=text, **fields
    )
