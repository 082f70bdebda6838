import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifier.ml import fast
from classifier.ml.model import load

CHAT = [
    "you are a complete idiot", "have a great stream everyone", "", "   ", "a", "ab", "f u c k you",
    "1d10t!!", "i will kill you", "\u0456d\u0456\u043et", "gg ez", "x" * 600, "a b c d e f g",
    "The quick brown fox jumps over the lazy dog.\nNew line here", "👍🔥", "shut up you moron lol",
]  # fmt: skip


@pytest.fixture(scope="module")
def model(tiny_model_path):
    return load(tiny_model_path).model


def test_fast_scores_equal_scikit_learn_scores_on_chat(model):
    fast, reference = model.predict_proba(CHAT), model.predict_proba_reference(CHAT)
    assert fast.shape == (len(CHAT), 6)
    np.testing.assert_allclose(fast, reference, atol=1e-5)


def test_batch_and_single_scores_agree(model):
    batch = model.predict_proba(CHAT)
    singles = np.vstack([model.predict_proba([text]) for text in CHAT])
    np.testing.assert_allclose(batch, singles, atol=1e-9)


def test_empty_batch_gives_an_empty_array(model):
    assert model.predict_proba([]).shape == (0, 6)


@given(st.lists(st.text(max_size=80), min_size=1, max_size=8))
@settings(max_examples=200, deadline=None)
def test_fast_scores_equal_scikit_learn_scores_on_any_text(model, texts):
    np.testing.assert_allclose(model.predict_proba(texts), model.predict_proba_reference(texts), atol=1e-5)


@pytest.mark.parametrize("small_batch_features", [0, 10**9])
def test_both_product_paths_equal_scikit_learn(model, monkeypatch, small_batch_features):
    # 0: every batch takes scipy's sparse product; 10**9: every batch takes the numpy gather-and-sum.
    monkeypatch.setattr(fast, "SMALL_BATCH_FEATURES", small_batch_features)
    texts = [f"{text} {i}" for i in range(40) for text in CHAT]
    np.testing.assert_allclose(model.predict_proba(texts), model.predict_proba_reference(texts), atol=1e-5)


@pytest.mark.parametrize("ngram_range", [(2, 6), (1, 5), (4, 5)])
def test_character_ngram_ranges_the_fast_path_cannot_match_are_refused(model, ngram_range):
    vectorizer = copy.copy(model.char)
    vectorizer.ngram_range = ngram_range
    with pytest.raises(ValueError, match="up to 5 characters are supported"):
        fast.CharScorer(vectorizer, np.zeros((len(vectorizer.vocabulary_), 6)))
