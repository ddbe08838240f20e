"""Face segmentation data: the Face Synthetics format and reader, its decoded cache, batches."""
