"""Sales actions: answers about products from the catalog, and one relevant offer, once.

Each action reads the product the customer named, calls one shopping service function and
utters the response it names. :func:`make_offer` is the single place offers are made (after a
resolved service flow or a purchase step), so "offered once" and the offer log hold everywhere.
"""

from __future__ import annotations

import abc
import json
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.common import StoreAction, store_today, user_turns, utter
from actions.handoff import HOW, ValidateHandoffForm, contact_for
from actions.services import back_in_stock, catalog, handoff, identity, offers, shopping
from actions.services.orders import Answer
from actions.settings import Settings
from actions.store.models import Product

UPSET = {"mild", "strong", "extreme"}


def latest_text(tracker: Tracker) -> str:
    """The words of the customer's latest message (a button's payload for a click)."""
    return str((tracker.latest_message or {}).get("text") or "")


def named_products(tracker: Tracker) -> list[str]:
    """Every product named in the latest message; else the one discussed before, when the message
    refers back to it (a pronoun, a short follow-up, a button), never for a new question."""
    names = [e.get("value") for e in (tracker.latest_message or {}).get("entities", []) if e.get("entity") == "product"]
    names = [str(n) for n in names if n]
    text = latest_text(tracker)
    if not names and tracker.get_slot("product") and (text.startswith("/") or shopping.refers_back(text)):
        names = [str(tracker.get_slot("product"))]
    return names


def utter_answer(dispatcher: CollectingDispatcher, answer: Answer, intent: str) -> None:
    """Utter an answer; an ambiguous name becomes buttons that repeat the question precisely."""
    if answer.response == "utter_which_product":
        buttons = [
            {"title": name, "payload": f"/{intent}{json.dumps({'product': name})}"} for name in answer.values["names"]
        ]
        dispatcher.utter_message(response="utter_which_product", buttons=buttons)
        return
    utter(dispatcher, answer)


def make_offer(
    dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings, sku: str | None = None
) -> list[EventType]:
    """Make the one relevant offer if the engine finds one now; log it; remember it is pending.

    Purchase history shapes the offer only for a proven customer (:func:`identity.proven_email`): a
    claimed address gets the same offer as an anonymous visitor, so it reveals nothing owned.
    """
    if tracker.get_slot("offer_made"):
        return []
    email = identity.proven_email(tracker)
    complaint = any(turn.intent == "complain" for turn in user_turns(tracker))
    context = offers.OfferContext(
        conversation_id=tracker.sender_id,
        customer_email=email,
        product_sku=sku,
        offer_made=bool(tracker.get_slot("offer_made")),
        complaint_open=complaint or bool(tracker.get_slot("handoff_offered")),
        feeling_label=tracker.get_slot("feeling") or "neutral",
    )
    offer = offers.pick_offer(session, context)
    if offer is None:
        return []
    offers.record_offer(session, tracker.sender_id, offer, email)
    values = {"offer_name": offer.name, "offer_price": offer.price, "for_name": offer.for_name}
    if offer.promotion:
        dispatcher.utter_message(response="utter_offer_promotion", **values,
                                 promo_price=offer.promotion.discounted_price, promo_title=offer.promotion.title)
    elif offer.customer_owns_anchor:
        dispatcher.utter_message(response="utter_offer_for_owned", **values)
    else:
        dispatcher.utter_message(response="utter_offer_with", **values)
    return [SlotSet("offer_made", True), SlotSet("offer_pending", True), SlotSet("offer_sku", offer.sku)]


class ActionCheckPrice(StoreAction):
    """Price and stock of the product the customer named, from the store."""

    def name(self) -> str:
        return "action_check_price"

    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        named = tracker.get_slot("product")
        if not named:
            dispatcher.utter_message(response="utter_ask_which_product")
            return []
        quote, candidates = catalog.price_quote(session, named, settings.currency, store_today(settings))
        if quote:
            dispatcher.utter_message(
                response="utter_price", product_name=quote.name, price=quote.price, stock=quote.stock
            )
            return [SlotSet("product", quote.name)]
        if candidates:
            utter_answer(dispatcher, Answer("utter_which_product", {"names": candidates}), "check_price")
            return [SlotSet("product", None)]
        utter_answer(dispatcher, shopping._unknown(session, named, settings.currency), "check_price")
        return [SlotSet("product", None)]


class ActionProductSearch(StoreAction):
    """"I need a laptop for video editing under 2000": the best few from the catalog."""

    def name(self) -> str:
        return "action_product_search"

    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        return search_and_answer(dispatcher, session, latest_text(tracker), settings)


def search_and_answer(
    dispatcher: CollectingDispatcher, session: Session, text: str, settings: Settings
) -> list[EventType]:
    """Answer from a catalog search; a single hit becomes the product being discussed."""
    result = shopping.search_catalog(session, text[:500], settings.currency)
    utter(dispatcher, result.answer)
    return [SlotSet("product", result.hits[0].name)] if len(result.hits) == 1 else []


class _ProductAction(StoreAction):
    """Shared shape of the actions about one named product."""

    intent = ""

    @abc.abstractmethod
    def answer(self, session: Session, named: str, settings: Settings) -> tuple[Answer, Product | None]:
        """The answer about the product ``named``, and that product when it was found."""

    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        names = named_products(tracker)
        if not names:
            text = latest_text(tracker)
            if text.strip() and not text.startswith("/") and not shopping.refers_back(text):
                # A new question naming no product we know ("do you have any webcams?"): the catalog answers.
                return search_and_answer(dispatcher, session, text, settings)
            dispatcher.utter_message(response="utter_ask_which_product")
            return []
        answer, product = self.answer(session, names[-1], settings)
        utter_answer(dispatcher, answer, self.intent)
        events: list[EventType] = [SlotSet("product", product.name if product else None)]
        return events + self.after(dispatcher, tracker, session, settings, answer, product)

    def after(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        session: Session,
        settings: Settings,
        answer: Answer,
        product: Product | None,
    ) -> list[EventType]:
        """Anything to do once the answer is out (the purchase step makes its offer here)."""
        return []


class ActionProductInfo(_ProductAction):
    intent = "product_info"

    def name(self) -> str:
        return "action_product_info"

    def answer(self, session: Session, named: str, settings: Settings) -> tuple[Answer, Product | None]:
        return shopping.product_info(session, named, settings.currency, store_today(settings))


class ActionCheckStock(_ProductAction):
    intent = "check_stock"

    def name(self) -> str:
        return "action_check_stock"

    def answer(self, session: Session, named: str, settings: Settings) -> tuple[Answer, Product | None]:
        return shopping.stock_info(session, named, settings.currency, store_today(settings))

    def after(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        session: Session,
        settings: Settings,
        answer: Answer,
        product: Product | None,
    ) -> list[EventType]:
        if product is None or product.in_stock or tracker.get_slot("handoff_offered"):
            return []
        dispatcher.utter_message(response="utter_offer_notify")
        return [SlotSet("restock_pending", True)]


class ActionBuyProduct(_ProductAction):
    """The purchase step (a link to the product page), then the one offer if it fits."""

    intent = "buy_product"

    def name(self) -> str:
        return "action_buy_product"

    def answer(self, session: Session, named: str, settings: Settings) -> tuple[Answer, Product | None]:
        return shopping.buy(session, named, settings.currency, store_today(settings), settings.shop_url)

    def after(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        session: Session,
        settings: Settings,
        answer: Answer,
        product: Product | None,
    ) -> list[EventType]:
        if answer.response != "utter_buy_link" or product is None:
            return []
        return make_offer(dispatcher, tracker, session, settings, product.sku)


class ActionCompareProducts(StoreAction):
    def name(self) -> str:
        return "action_compare_products"

    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        answer = shopping.compare(session, named_products(tracker), settings.currency, store_today(settings))
        utter_answer(dispatcher, answer, "compare_products")
        return []


class ActionRequestDiscount(StoreAction):
    """Only promotions that exist; pressure gets a respectful no and the sales specialist offered."""

    def name(self) -> str:
        return "action_request_discount"

    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        text = (tracker.latest_message or {}).get("text") or ""
        utter(dispatcher, shopping.discount_answer(session, text, store_today(settings)))
        return [SlotSet("handoff_offered", True), SlotSet("handoff_reason", "pricing")]


class ActionOfferOutcome(StoreAction):
    """The customer answered the pending offer: log accepted or declined; a no is final."""

    def name(self) -> str:
        return "action_offer_outcome"

    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        accepted = (tracker.latest_message or {}).get("intent", {}).get("name") == "affirm"
        offers.record_outcome(session, tracker.sender_id, "accepted" if accepted else "declined")
        events: list[EventType] = [SlotSet("offer_pending", False)]
        if not accepted:
            dispatcher.utter_message(response="utter_offer_declined")
            return events
        answer, _ = shopping.buy(session, tracker.get_slot("offer_sku") or "", settings.currency,
                                 store_today(settings), settings.shop_url)
        utter_answer(dispatcher, answer, "buy_product")
        return events


class ValidateNotifyForm(ValidateHandoffForm):
    """How to tell the customer an item is back: the same questions as a handoff (house rule 9)."""

    def name(self) -> str:
        return "validate_notify_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        # A notice cannot reach this chat once the customer has left: only a stored email or phone
        # preference spares the questions. (Nothing is said here: the SDK calls this several times.)
        if tracker.get_slot("contact_channel") is None and self._stored_channel(tracker) in {"email", "phone"}:
            return []
        return domain_slots

    def validate_contact_channel(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        result = super().validate_contact_channel(slot_value, dispatcher, tracker, domain)
        if result["contact_channel"] == "chat":
            # Say why once and ask the channel again, rather than keep "chat" and then read the
            # address the customer types as a phone number.
            dispatcher.utter_message(response="utter_notify_needs_email_or_phone")
            return {"contact_channel": None}
        return result


class ActionBackInStock(StoreAction):
    """Store a back-in-stock request with the contact the customer chose.

    Identity: the request is linked to a customer, and their stored preference used or updated,
    only for a proven customer; otherwise the contact typed applies to this request alone. The
    answer is the same whether or not the contact already waits for the product, so a typed
    contact reveals nothing stored.
    """

    def name(self) -> str:
        return "action_back_in_stock"

    def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, settings: Settings
    ) -> list[EventType]:
        channel, detail = contact_for(session, tracker)
        match = catalog.resolve_product(session, tracker.get_slot("product") or "")
        sku = match.product.sku if match.product else ""
        email = identity.proven_email(tracker)
        result = back_in_stock.request_back_in_stock(
            session, sku, channel, detail, customer_email=email, conversation_id=tracker.sender_id,
        )
        if result.status.value in {"created", "already_requested"}:
            if email and channel in {"email", "phone"}:
                handoff.set_preferred_contact(session, email, channel, detail)
            dispatcher.utter_message(response="utter_notify_saved", product_name=result.name or "",
                                     how=HOW[channel].format(detail=detail))
        elif result.status.value == "in_stock":
            dispatcher.utter_message(response="utter_notify_in_stock", product_name=result.name or "")
        else:
            dispatcher.utter_message(response="utter_notify_failed")
        return [SlotSet("restock_pending", False), SlotSet("contact_channel", None), SlotSet("contact_detail", None)]
