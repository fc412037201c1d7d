"""Training the embedder: labelled crops, P x K sampling, losses, triplet mining, the loop, the job."""
