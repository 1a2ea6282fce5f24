"""Every Slack-facing identifier the bot uses, in one place."""

COMMAND = "/whatsapp"

# block_actions
SEND = "whatsapp_send"
CANCEL = "whatsapp_cancel"
RETRY = "whatsapp_retry"
SEND_GROUP = "whatsapp_send_group"
CANCEL_GROUP = "whatsapp_cancel_group"
CHOOSE_RECIPIENT = "whatsapp_choose_recipient"

# blocks
CONFIRM_BLOCK = "whatsapp_confirm"

# message shortcut and modal
SHORTCUT = "whatsapp_send_file"
MODAL = "whatsapp_send_modal"
RECIPIENT_BLOCK = "recipient"
RECIPIENT_INPUT = "recipient_input"
SENDER_BLOCK = "sender"
SENDER_INPUT = "sender_input"
