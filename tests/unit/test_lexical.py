from knowledge_base.lexical import FRESH_MIN, LexicalIndex


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


def _scores_of(index: LexicalIndex, query: str, ids: list[int]) -> list[float]:
    scores = index.scores(query)
    return [scores.get(i, 0.0) for i in ids]


def test_edits_after_the_first_search_go_to_the_fresh_block_and_compaction_makes_it_exact():
    texts = {i: f"order {i} shipping parcel tracking number {i * 7}" for i in range(1, 41)}
    texts[3] = "reset your password from the login page"
    live = LexicalIndex()
    live.add(list(texts), list(texts.values()))
    assert live.scores("reset the password on the login page").get(3, 0.0) > 0.5  # builds the base
    assert live.pending == 0

    live.add([3], ["gift wrapping at checkout"])  # replaces a base document
    live.remove(5)
    live.add([99], ["refund for a damaged gift"])
    texts[3], texts[99] = "gift wrapping at checkout", "refund for a damaged gift"
    del texts[5]
    assert live.pending == 3

    rebuilt = LexicalIndex()
    rebuilt.add(list(texts), list(texts.values()))
    ids = [*texts, 5]
    for query in ("gift wrap", "password reset", "parcel tracking 35", "damaged refund"):
        got, want = _scores_of(live, query, ids), _scores_of(rebuilt, query, ids)
        assert live.scores(query).top(3) == rebuilt.scores(query).top(3), query
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) < 0.05, query  # an IDF snapshot apart
        assert 5 not in live.scores(query) and live.scores(query).get(5) is None
    assert live.scores("reset the password on the login page").get(3, 0.0) < 0.2  # its old text is gone
    assert live.scores("gift wrap").top(1) == [3]

    assert live.compact() and live.pending == 0 and not live.compact()
    for query in ("gift wrap", "password reset", "parcel tracking 35"):
        got, want = _scores_of(live, query, ids), _scores_of(rebuilt, query, ids)
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) < 1e-6, query


def test_a_fresh_block_that_outgrows_its_share_is_compacted_at_the_next_search():
    index = LexicalIndex()
    index.add(list(range(100)), [f"article number {i}" for i in range(100)])
    index.scores("article")
    index.add(list(range(100, 100 + FRESH_MIN)), ["new article"] * FRESH_MIN)
    index.scores("article")
    assert index.pending == FRESH_MIN  # still within the limit
    index.add([1000], ["one more"])
    index.scores("article")
    assert index.pending == 0
