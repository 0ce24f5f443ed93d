"""Sales actions: answers about products, grounded in the catalog."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.common import StoreAction, store_today
from actions.services import catalog
from actions.settings import Settings


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
            dispatcher.utter_message(
                response="utter_which_product",
                buttons=[
                    {"title": name, "payload": f'/check_price{{"product": "{name}"}}'} for name in candidates
                ],
            )
            return [SlotSet("product", None)]
        dispatcher.utter_message(response="utter_product_unknown", product_name=named[:80])
        return [SlotSet("product", None)]
