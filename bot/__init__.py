"""Send WhatsApp media from Slack."""
