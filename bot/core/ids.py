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

# conversations: a customer's message and the reply modal
REPLY = "whatsapp_reply"
REPLY_MODAL = "whatsapp_reply_modal"
REPLY_TEXT_BLOCK = "reply_text"
REPLY_TEXT_INPUT = "reply_text_input"
REPLY_URL_BLOCK = "reply_url"
REPLY_URL_INPUT = "reply_url_input"
REPLY_CAPTION_BLOCK = "reply_caption"
REPLY_CAPTION_INPUT = "reply_caption_input"

# the App Home's "Find a customer": a number or contact entered shows that customer's history
FIND_BLOCK = "whatsapp_find_customer"
FIND_INPUT = "whatsapp_find_customer_input"
