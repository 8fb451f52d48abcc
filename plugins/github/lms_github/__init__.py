"""lmscore GitHub integration: learners link their GitHub account (OAuth), get a repository
generated from each project's template, and pull requests and CI results drive their
submissions through signed webhooks."""
