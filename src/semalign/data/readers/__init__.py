"""Dataset readers: each takes the dataset's root folder as downloaded and yields Records."""
