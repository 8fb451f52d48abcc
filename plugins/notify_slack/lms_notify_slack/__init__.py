"""Slack notifications for lmscore: incoming webhooks, one per institution channel."""
