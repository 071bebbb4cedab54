"""Shared fixtures: real files in temporary directories, nothing mocked."""
