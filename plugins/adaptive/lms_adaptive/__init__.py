"""lmscore adaptive learning plugin (id ``adaptive``)."""
