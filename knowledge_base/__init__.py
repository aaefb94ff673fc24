"""The help-centre knowledge base: articles, embeddings, the FAISS index and search."""
