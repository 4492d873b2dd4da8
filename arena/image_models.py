"""Images of prompts: the bytes stored once by digest, and each prompt's opaque link to them.

Imported by arena/models.py (Django finds the app's models there); kept apart so that the data
model of images reads in one place.
"""

import secrets

from django.db import models


class StoredImage(models.Model):
    """One image's bytes, stored once in the `images` storage under a name made of its digest.

    Two prompts (of any campaigns) with the same image share one row and one file. The name
    says nothing but the digest: no file name, campaign or model.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    content_type = models.CharField(max_length=32, help_text="Sniffed from the bytes.")
    size = models.PositiveIntegerField()
    name = models.CharField(max_length=200, help_text="The file's name in the images storage.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.content_type} {self.sha256[:12]}"


def new_image_token() -> str:
    return secrets.token_urlsafe(24)


class PromptImage(models.Model):
    """An image as one prompt shows it: the random token of its URL (`/media/i/<token>/`).

    The token is per prompt, so the same bytes in two campaigns have two unrelated URLs, and
    the campaign kept here decides who may read it (that campaign's reviewers and leads).
    """

    token = models.CharField(max_length=40, default=new_image_token, editable=False)
    campaign = models.ForeignKey("arena.Campaign", on_delete=models.CASCADE, related_name="+")
    prompt = models.ForeignKey("arena.Prompt", on_delete=models.CASCADE, related_name="images")
    image = models.ForeignKey(StoredImage, on_delete=models.PROTECT, related_name="uses")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token"], name="prompt_image_token_unique"),
            models.UniqueConstraint(fields=["prompt", "image"], name="one_link_per_prompt_and_image"),
        ]
