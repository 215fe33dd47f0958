"""Tests of the terminology package: our CodeSystems and the national data beside them."""
