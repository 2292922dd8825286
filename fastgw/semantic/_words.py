"""Word lists for the lexical guards, built once at import (frozensets and dicts, no state).

Every key that the guards compare against stems (``ANTONYMS``, ``SLOT_CLASS``) is stored
stemmed with ``stem``, so "dollars" finds "dollar" and "installing" finds "install".
"""

from __future__ import annotations


def _list_of(text: str) -> list[str]:
    return text.split()


def _set_of(text: str) -> frozenset[str]:
    return frozenset(text.split())


def stem(word: str) -> str:
    """A light English suffix strip: enough to match plurals and -ing/-ed forms of one word."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("'s", "\u2019s")):
        return word[:-2]
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            base = word[: -len(suffix)]
            if len(base) > 2 and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]
            return base
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


STOP_WORDS = _set_of(
    """a an the is are was were be been being am do does did doing have has had having i me my
    mine we us our you your yours he him his she her it its they them their this that these those
    what which who whom whose when where why how there here and or but if so as of at by for with
    about to from in into on onto out up down over under off than then too very can could will
    would shall should may might must just also any some all each every both either more most
    other such only own same s t get got getting one's someone something anyone anything way
    ways best good really actually much many lot lots please tell know explain"""
)

NEGATORS = _set_of(
    """not no never without none nobody nothing neither nor cannot cant dont doesnt isnt arent
    wasnt werent wont shouldnt couldnt wouldnt didnt hasnt havent hadnt mustnt aint"""
)

NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        _list_of(
            """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
        fifteen sixteen seventeen eighteen nineteen twenty"""
        )
    )
    # "one" is a pronoun as often as a number ("how does one ..."): left as a word.
    if word != "one"
} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
    "thousand": "1000",
    "thousands": "1000s",
    "hundreds": "100s",
    "millions": "1000000s",
    "million": "1000000",
    "billion": "1000000000",
    "half": "0.5",
    "third": "3rd",
    "fourth": "4th",
    "fifth": "5th",
    "tenth": "10th",
}

NEGATING_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non", "non-", "anti")

_OPPOSITES = """
ascending descending; asc desc; increase decrease; increasing decreasing; raise lower;
install uninstall; enable disable; activate deactivate; on off; to from; up down; in out;
inside outside; before after; min max; minimum maximum; highest lowest; high low; more less;
most least; larger smaller; largest smallest; bigger smaller; biggest smallest; best worst;
better worse; good bad; positive negative; upload download; import export; encrypt decrypt;
encode decode; compress decompress; buy sell; gain lose; win lose; add remove; start stop;
open close; push pull; send receive; input output; first last; left right; north south;
east west; hot cold; fast slow; cheap expensive; always never; lock unlock; connect disconnect;
mount unmount; zip unzip; show hide; allow deny; accept reject; true false; pros cons;
advantage disadvantage; benefit drawback; love hate; like dislike; agree disagree; rise fall;
long short; early late; young old; men women; man woman; male female; boy girl; husband wife;
mother father; son daughter; brother sister; enter exit; forward backward; uppercase lowercase;
upper lower; serialize deserialize; freeze unfreeze; subscribe unsubscribe; follow unfollow;
block unblock; celsius fahrenheit; import export; arrive depart; lend borrow;
employer employee; landlord tenant; buyer seller; debit credit; asset liability; profit loss;
import export; plus minus; above below; over under; inbound outbound; internal external;
client server; sender receiver; husband wife; past future; yesterday tomorrow; morning evening;
day night; summer winter; light dark; wet dry; full empty; heavy light; rich poor; strong weak;
easy hard; easiest hardest; give receive; given received; cause effect; legal illegal;
safe dangerous; healthy unhealthy; fully partially; completely partially;
totally partially; similar different; similarity difference; same different; alike differ;
similar differ;
"""


def _opposites() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for pair in _OPPOSITES.split(";"):
        words = pair.split()
        if len(words) != 2:
            continue
        a, b = stem(words[0]), stem(words[1])
        table.setdefault(a, set()).add(b)
        table.setdefault(b, set()).add(a)
    return {word: frozenset(others) for word, others in table.items()}


ANTONYMS = _opposites()

_SLOTS = {
    "unit": """celsius fahrenheit kelvin kg kilogram gram mg pound lb lbs ounce oz ton tonne km
        kilometer kilometre mile meter metre cm centimeter mm millimeter foot feet ft inch
        yard liter litre ml gallon quart pint cup tablespoon teaspoon mph kmh knot second minute
        hour day week month year decade century kb mb gb tb byte bit mbps ghz mhz watt kw kwh
        volt amp calorie kcal acre hectare percent""",
    "currency": """usd eur gbp inr jpy cny cad aud chf rub dollar euro rupee yen yuan peso
        ruble franc bitcoin btc ethereum""",
    "language": """english french spanish german italian portuguese russian chinese mandarin
        cantonese japanese korean hindi arabic urdu bengali tamil telugu marathi gujarati
        punjabi kannada malayalam dutch swedish norwegian danish finnish polish turkish greek
        hebrew persian farsi thai vietnamese indonesian malay swahili latin""",
    "code": """python java javascript typescript ruby php perl rust golang kotlin swift
        scala haskell c++ c# csharp cpp matlab julia lua dart elixir erlang fortran cobol
        sql html css bash powershell""",
    "month": """january february march april june july august september october november
        december jan feb apr jun jul aug sep sept oct nov dec""",
    "weekday": "monday tuesday wednesday thursday friday saturday sunday",
    "country": """india china usa america uk britain england canada australia germany
        france italy spain japan russia brazil mexico pakistan bangladesh nepal sri lanka
        singapore malaysia indonesia israel iran iraq egypt nigeria kenya africa europe asia
        korea turkey greece sweden norway denmark finland netherlands holland switzerland
        austria poland ireland scotland dubai uae qatar saudi argentina chile""",
    "city": """paris london berlin rome madrid tokyo beijing shanghai delhi mumbai bangalore
        bengaluru chennai kolkata hyderabad pune york nyc boston chicago seattle sf francisco
        angeles toronto vancouver sydney melbourne moscow dubai singapore amsterdam
        barcelona istanbul cairo lagos nairobi""",
    "brand": """apple samsung google microsoft amazon facebook meta twitter instagram whatsapp
        snapchat youtube netflix uber lyft airbnb tesla ford toyota honda bmw audi nike adidas
        sony nokia motorola xiaomi oneplus huawei oppo vivo lenovo dell hp asus acer intel amd
        nvidia iphone ipad android windows linux ubuntu mac macos ios chrome firefox safari
        quora reddit linkedin paypal visa mastercard flipkart""",
    "planet": "mercury venus earth mars jupiter saturn uranus neptune pluto moon sun",
    "person": """trump obama clinton hillary modi gandhi nehru putin hitler stalin lincoln
        einstein newton gates musk zuckerberg bezos shakespeare""",
    "color": "red blue green yellow black white orange purple pink brown grey gray",
}


def _slot_classes() -> dict[str, str]:
    table: dict[str, str] = {}
    for name, words in _SLOTS.items():
        for word in words.split():
            table.setdefault(stem(word), name)
    return table


SLOT_CLASS = _slot_classes()

# Words after which order matters: "USD to EUR" is not "EUR to USD". "and", "or", "vs" are
# left out: "Python vs Java" asks what "Java vs Python" asks.
RELATIONS = _set_of("to into from than over onto toward towards per")

# Words that only list: the order of the things they join does not change the question.
SYMMETRIC = _set_of("and or vs versus & , / with between the a an")

# Question words that ask for different things; "how" and "what" are left out, they are
# used for one another ("how do I use X" / "what is the way to use X").
ASKS = _set_of("why when where who whom whose")
