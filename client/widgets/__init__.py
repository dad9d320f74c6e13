"""The client's widgets, one per module."""

from .chat_input import ChatInput
from .conversation_log import ConversationLog
from .new_below import NewBelowMarker
from .password_prompt import PasswordPrompt
from .paste_confirm import PasteConfirm
from .status_bar import StatusBar
from .user_list import UserList

__all__ = ["ChatInput", "ConversationLog", "NewBelowMarker", "PasswordPrompt", "PasteConfirm", "StatusBar", "UserList"]
