"""The searched networks: the genome of the hourglass space, its Archai JSON and id, the model."""
