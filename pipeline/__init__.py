"""facepipe: batch face detection, alignment and embedding over photo collections."""
