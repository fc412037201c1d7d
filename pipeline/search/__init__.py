"""FAISS: the closed-form index choice, vector indexes, the face index of a set of tables, kNN graphs."""
