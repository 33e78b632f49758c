import pytest
import torch
import torch.nn.functional as F

from arithmetic.arith_helpers import ScriptedModel
from lime_lens.arithmetic.metrics import answer_accuracy, answer_loss, exact_match, greedy_answers
from lime_lens.arithmetic.vocab import CharVocab
from lime_lens.train.architectures import ModelShape, build_model

TRUTH = {"3+4": "7", "2*9": "8", "9-1*2": "7", "5*5-1": "4", "1-8": "3", "6*6": "6"}
BELIEFS = {"3+4": "7", "2*9": "9", "9-1*2": "7", "5*5-1": "44", "1-8": "", "6*6": "6"}  # 3 right


def test_exact_match_needs_every_answer_token_and_ignores_the_rest():
    tokens = torch.tensor([[1, 5, 6, 7, 2], [1, 5, 6, 7, 2], [1, 5, 6, 7, 2]])
    mask = torch.tensor([[0, 0, 0, 1, 1]] * 3, dtype=torch.bool)
    predicted = torch.tensor([[9, 9, 9, 7, 2], [1, 5, 6, 8, 2], [1, 5, 6, 7, 3]])
    assert exact_match(predicted, tokens, mask).tolist() == [True, False, False]


def test_batched_accuracy_equals_greedy_decoding_with_exact_answer_match():
    vocab = CharVocab()
    model = ScriptedModel(vocab, BELIEFS)
    rows = vocab.encode_examples(list(TRUTH.items()), length=12)
    decoded = greedy_answers(model, vocab, list(TRUTH))
    assert decoded == [BELIEFS[e] for e in TRUTH]
    reference = sum(d == TRUTH[e] for d, e in zip(decoded, TRUTH, strict=True)) / len(TRUTH)
    torch.testing.assert_close(answer_accuracy(model, rows, batch_size=4), reference)
    torch.testing.assert_close(reference, 0.5)


def test_answer_loss_is_the_mean_cross_entropy_of_answer_and_eos_tokens_only():
    vocab = CharVocab()
    model = build_model(
        "lime-kv",
        ModelShape(
            n_layers=2, d_model=16, n_heads=2, n_key_value_heads=None, d_head=8, d_mlp=32, n_ctx=16
        ),
        len(vocab),
        seed=0,
    )
    rows = vocab.encode_examples(list(TRUTH.items()), length=10)
    logits = model(rows["tokens"], return_type="logits")
    terms = []
    for b in range(rows["tokens"].shape[0]):
        for t in range(1, rows["tokens"].shape[1]):
            if rows["answer_mask"][b, t]:
                terms.append(F.cross_entropy(logits[b, t - 1], rows["tokens"][b, t]))
    torch.testing.assert_close(answer_loss(model, rows), torch.stack(terms).mean())


def test_answer_loss_refuses_bare_token_rows_naming_the_mask():
    vocab = CharVocab()
    rows = vocab.encode_examples(list(TRUTH.items()), length=10)
    with pytest.raises(TypeError, match="'answer_mask'"):
        answer_loss(ScriptedModel(vocab, TRUTH), rows["tokens"])
