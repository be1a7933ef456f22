"""Helpers shared by the test tiers: registry-sourced images, the stack client."""
