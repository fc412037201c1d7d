"""Training the embedder: labelled crops, P x K batches, losses, mining, objectives, the loop and callbacks, the job."""
