"""Thin DVC stage entry points: read params and inputs, call `asap`, write outputs."""
