"""The built-in synthetic faces: geometry, features and parts drawn as paint, rendered, written."""
