"""Topic-based subscriptions (FHIR R4B with the HL7 Subscriptions R5 Backport IG).

- ``topics.py``: the guide's SubscriptionTopics, compiled;
- ``subscription.py``: a Subscription read and checked (write rule);
- ``endpoints.py``: where rest-hook notifications may go;
- ``matching.py``: the outbox consumer that numbers each subscription's events;
- ``notification.py``: notification bundles, under the subscriber's consent;
- ``delivery.py``: the rest-hook delivery loop;
- ``websocket.py``: the websocket channel.
"""
