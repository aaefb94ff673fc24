from knowledge_base.lexical import LexicalIndex


def test_product_codes_match_exactly():
    index = LexicalIndex()
    index.add([1, 2, 3], ["Error code PX-4471 at checkout", "Error code QZ-9002 on login", "Where is my order"])
    scores = index.scores("what does PX-4471 mean")
    assert max(scores, key=scores.__getitem__) == 1


def test_arabic_and_persian_letter_variants_match_after_normalisation():
    index = LexicalIndex()
    index.add([1, 2], ["كيف أسترد أموالي", "تتبع الشحنة"])
    # Persian keheh and yeh, no hamza on the alef, tatweel: the same words as the first document
    scores = index.scores("کیف استرد امـــوالی")
    assert scores.get(1, 0) > 0.5 > scores.get(2, 0)


def test_removed_documents_are_never_returned_and_replacing_updates():
    index = LexicalIndex()
    index.add([1, 2], ["reset your password", "track your parcel"])
    index.remove(1)
    assert 1 not in index.scores("reset password")
    index.add([2], ["gift wrapping at checkout"])  # replaces document 2
    assert 2 in index.scores("gift wrap") and 2 not in index.scores("parcel")
    assert len(index) == 1


def test_a_query_with_nothing_in_common_scores_nothing():
    index = LexicalIndex()
    index.add([1], ["abc"])
    assert index.scores("???") == {}


def test_top_lists_the_best_documents_first_and_only_those_sharing_an_ngram():
    index = LexicalIndex()
    index.add([10, 11, 12, 13], ["refund policy", "refund my card refund", "zzz", "card limits"])
    scores = index.scores("refund card")
    assert scores.top(2) == sorted(scores, key=scores.__getitem__, reverse=True)[:2]
    assert 12 not in scores.top(10) and len(scores.top(10)) == len(scores) == 3


def test_scores_are_the_tf_idf_cosine_of_query_and_document():
    """The flat-array scoring gives the textbook cosine (sublinear tf, smoothed idf, l2 norms)."""
    import numpy as np

    texts = ["refund policy for damaged items", "card refund delayed", "reset your password", "refund refund refund"]
    index = LexicalIndex()
    index.add([5, 6, 7, 8], texts)
    query = "refund for a damaged card"
    docs = index._tf(texts).toarray()
    q = index._tf([query]).toarray()[0]
    idf = np.log((len(texts) + 1) / ((docs > 0).sum(axis=0) + 1)) + 1
    d, qv = docs * idf, q * idf
    expected = d @ qv / np.linalg.norm(d, axis=1) / np.linalg.norm(qv)
    scores = index.scores(query)
    for doc_id, value in zip([5, 6, 7, 8], expected, strict=True):
        assert abs(scores.get(doc_id, 0.0) - value) < 1e-5
    assert scores.top(1) == [5 + int(np.argmax(expected))]
