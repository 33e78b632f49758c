"""Explainer clients for delphi: a deterministic stub, an OpenAI-compatible endpoint, a local
Hugging Face model.

Importing this package's ``__init__`` first lets delphi import without vLLM (see there).
"""

from __future__ import annotations

import os
import re
from typing import Any

import httpx
from delphi.clients.client import Client, Response
from delphi.clients.openrouter import OpenRouter

STUB_EXPLANATION = "Words in formal English prose."
"""The stub's fixed explanation (well-formed: delphi parses it)."""


class ExplainerUnavailable(RuntimeError):
    """The explainer endpoint does not answer (the message names it)."""


def _last_user_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return str(prompt[-1]["content"]) if prompt else ""


class StubExplainerClient(Client):
    """Deterministic and offline: a fixed explanation, and for scoring prompts one well-formed
    prediction per example (1 where the example has a highlighted ``<<token>>``, which only
    fuzzing shows, else 1 for every example). It checks the plumbing, not interpretability."""

    def __init__(self, n_examples_shown: int):
        super().__init__("stub")
        self.n_examples_shown = n_examples_shown

    async def generate(self, prompt: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        text = _last_user_text(prompt)
        examples = re.findall(r"Example \d+:(.*)", text)
        if not examples:
            return Response(text=f"[EXPLANATION]: {STUB_EXPLANATION}")
        fuzzing = any("<<" in e for e in examples)
        votes = [int("<<" in e) if fuzzing else 1 for e in examples]
        votes += [0] * (self.n_examples_shown - len(votes))  # delphi wants exactly this many
        return Response(text=str(votes))


def openai_compatible_client(
    base_url: str | None = None, api_key: str | None = None, model: str | None = None
) -> OpenRouter:
    """delphi's chat client on any OpenAI-compatible endpoint (vLLM, llama.cpp, OpenAI, ...).

    Defaults from the environment: ``AUTOINTERP_BASE_URL`` (else ``OPENAI_BASE_URL``),
    ``AUTOINTERP_API_KEY`` (else ``OPENAI_API_KEY``), ``AUTOINTERP_MODEL``. The endpoint is asked
    for ``/models`` first, so one that does not answer fails here, naming its URL.
    """
    base = base_url or os.environ.get("AUTOINTERP_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
    key = api_key or os.environ.get("AUTOINTERP_API_KEY") or os.environ.get("OPENAI_API_KEY")
    name = model or os.environ.get("AUTOINTERP_MODEL")
    if not base or not name:
        raise ValueError("set AUTOINTERP_BASE_URL and AUTOINTERP_MODEL (or pass base_url, model)")
    base = base.rstrip("/")
    try:
        httpx.get(f"{base}/models", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    except httpx.HTTPError as err:
        raise ExplainerUnavailable(f"explainer endpoint {base} does not answer: {err!r}") from err
    return OpenRouter(name, api_key=key, base_url=f"{base}/chat/completions", max_tokens=500)


class LocalHFClient(Client):
    """A local Hugging Face causal LM as explainer and scorer (greedy decoding, chat template)."""

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int = 200):
        super().__init__(getattr(model.config, "name_or_path", "local"))
        self.hf_model, self.tokenizer, self.max_new_tokens = model.eval(), tokenizer, max_new_tokens

    async def generate(self, prompt: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        import torch

        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        ids = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )["input_ids"]
        with torch.no_grad():
            out = self.hf_model.generate(ids, max_new_tokens=self.max_new_tokens, do_sample=False)
        return Response(
            text=self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        )
