# The compiled twin has exactly the types of the pure module.
from .admission import BUCKET as BUCKET
from .admission import BUDGET as BUDGET
from .admission import PARALLEL as PARALLEL
from .admission import PERIOD as PERIOD
from .admission import Gate as Gate
from .admission import Spend as Spend
from .admission import Ticket as Ticket
from .admission import chat_allowance as chat_allowance
from .admission import estimate_messages as estimate_messages
from .admission import format_reset as format_reset
from .admission import settle_ticket as settle_ticket
from .admission import token_count as token_count
