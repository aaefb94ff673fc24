"""The default model's ONNX export holds its word-embedding table packed in 4 bits (packing itself: tests/unit)."""

import onnx

from tests.conftest import MODEL_DIR


def test_the_default_models_export_holds_the_packed_table(embedder):
    assert embedder.accelerated  # the export exists and is in use
    vocabulary, hidden = 250037, 384
    model = onnx.load(str(MODEL_DIR / "onnx" / "model.onnx"), load_external_data=False)
    shapes = {tuple(t.dims): t.data_type for t in model.graph.initializer}
    assert shapes.get((vocabulary, hidden // 2)) == onnx.TensorProto.UINT8
    assert (vocabulary, hidden) not in shapes  # no float copy of the table
