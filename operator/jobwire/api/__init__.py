"""Jobwire's API: the models of the four kinds, from which the CRDs are generated."""
