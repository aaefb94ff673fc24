"""The offline model as built from its 4-bit file: it embeds paraphrases closer across languages."""

import numpy as np

from tests.conftest import MODEL_DIR


def test_the_built_model_embeds_paraphrases_closer_across_languages(embedder):
    assert (MODEL_DIR / "BUILD_STAMP").exists()
    q = embedder.encode_queries(["How do I reset my password?", "رمز عبورم را فراموش کرده‌ام", "نسيت كلمة المرور"])
    other = embedder.encode_queries(["When will my parcel arrive?"])
    assert q.shape == (3, 384)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-4)
    assert float(q[0] @ q[1]) > float(q[0] @ other[0])
    assert float(q[0] @ q[2]) > float(q[0] @ other[0])
