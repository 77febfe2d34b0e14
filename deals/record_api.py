"""Companies, buyers and deals from a team's own integration: `POST` upserts by external id
(201 made, 200 updated), `PATCH /<id>/` changes what is sent.

Reads are scoped as the deals are (deals.selectors): a contact or company is visible through a
deal the user may see; anything else is a 404, also when an upsert names it by its external id.
"""

from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from closedlost.api_errors import ERROR, FIELD_ERRORS
from deals.contacts import deal_contact_add
from deals.models import Account, Contact, Deal
from deals.record_serializers import (
    AccountSerializer,
    AccountWriteSerializer,
    ContactSerializer,
    ContactWriteSerializer,
    DealWriteSerializer,
)
from deals.records import account_upsert, contact_upsert, deal_upsert
from deals.selectors import accounts_visible_to, contacts_visible_to, deal_get_for_user, deals_visible_to


class ByIdPagination(CursorPagination):
    ordering = ("-id",)
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def _not_yours(what: str, external_id: str) -> Http404:
    return Http404(f"No {what} with external id “{external_id}” that you may see.")


def _visible_or_404(queryset, *, what: str, external_id: str):
    """The record with this external id, None if there is none, or 404 if it is not the user's."""
    row = queryset.model.objects.filter(external_id=external_id).first()
    if row is not None and not queryset.filter(pk=row.pk).exists():
        raise _not_yours(what, external_id)
    return row


def _check_people(user, people) -> None:
    """Each buyer named by external id is new or already visible to the user (else 404)."""
    visible = contacts_visible_to(user)
    for person in people or []:
        _visible_or_404(visible, what="contact", external_id=person.external_id)


def _account_for(user, data: dict | None) -> Account | None:
    if data is None:
        return None
    external_id = data.pop("external_id")
    _visible_or_404(accounts_visible_to(user), what="company", external_id=external_id)
    return account_upsert(external_id=external_id, values=data)[0]


@extend_schema_view(
    list=extend_schema(
        summary="Companies of deals you may see", responses={200: AccountSerializer(many=True)}
    ),
    retrieve=extend_schema(summary="One company", responses={200: AccountSerializer, 404: ERROR}),
    create=extend_schema(
        summary="Create or update a company by its external id",
        request=AccountWriteSerializer,
        responses={200: AccountSerializer, 201: AccountSerializer, 400: FIELD_ERRORS, 404: ERROR},
    ),
    partial_update=extend_schema(
        summary="Change a company",
        request=AccountWriteSerializer,
        responses={200: AccountSerializer, 400: FIELD_ERRORS, 404: ERROR},
    ),
)
class AccountViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Account.objects.none()
    serializer_class = AccountSerializer
    pagination_class = ByIdPagination

    def get_queryset(self):
        return accounts_visible_to(self.request.user)

    def create(self, request, *args, **kwargs):
        payload = AccountWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        external_id = data.pop("external_id")
        _visible_or_404(self.get_queryset(), what="company", external_id=external_id)
        self.error_fields = payload.fields
        account, created = account_upsert(external_id=external_id, values=data)
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(AccountSerializer(account).data, status=answer)

    def partial_update(self, request, *args, **kwargs):
        account = self.get_object()
        payload = AccountWriteSerializer(data={"external_id": account.external_id or "-", **request.data})
        payload.is_valid(raise_exception=True)
        data = {k: v for k, v in payload.validated_data.items() if k != "external_id" and k in request.data}
        if not account.external_id:
            raise ValidationError({"non_field_errors": ["This company came from a CRM; change it there."]})
        self.error_fields = payload.fields
        account, _ = account_upsert(external_id=account.external_id, values=data)
        return Response(AccountSerializer(account).data)


@extend_schema_view(
    list=extend_schema(summary="Buyers on deals you may see", responses={200: ContactSerializer(many=True)}),
    retrieve=extend_schema(summary="One buyer", responses={200: ContactSerializer, 404: ERROR}),
    create=extend_schema(
        summary="Create or update a buyer by external id (and put them on a deal)",
        request=ContactWriteSerializer,
        responses={200: ContactSerializer, 201: ContactSerializer, 400: FIELD_ERRORS, 404: ERROR},
    ),
    partial_update=extend_schema(
        summary="Change a buyer",
        request=ContactWriteSerializer,
        responses={200: ContactSerializer, 400: FIELD_ERRORS, 404: ERROR},
    ),
)
class ContactViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Contact.objects.none()
    serializer_class = ContactSerializer
    pagination_class = ByIdPagination

    def get_queryset(self):
        return contacts_visible_to(self.request.user).select_related("account")

    def _save(self, request, *, external_id: str, data: dict):
        deal = None
        if data.get("deal"):
            deal = deal_get_for_user(user=request.user, pk=data["deal"], related=())
        elif (
            not request.user.is_revops_admin and not Contact.objects.filter(external_id=external_id).exists()
        ):
            raise ValidationError({"deal": ["Name one of your deals to put the new contact on."]})
        account = None
        if data.get("account"):
            account = Account.objects.filter(external_id=data["account"]).first()
            if account is None or not accounts_visible_to(request.user).filter(pk=account.pk).exists():
                raise ValidationError(
                    {"account": [f"No company you may see has external id “{data['account']}”."]}
                )
        values = {k: data[k] for k in ("name", "email", "title") if k in data}
        with transaction.atomic():
            contact, created = contact_upsert(external_id=external_id, values=values, account=account)
            if deal is not None:
                deal_contact_add(
                    deal=deal, contact=contact, role=data.get("role", ""),
                    is_primary=data.get("is_primary", False), actor=request.user,
                )  # fmt: skip
        return Contact.objects.select_related("account").get(pk=contact.pk), created

    def create(self, request, *args, **kwargs):
        payload = ContactWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        external_id = data.pop("external_id")
        _visible_or_404(contacts_visible_to(request.user), what="contact", external_id=external_id)
        self.error_fields = payload.fields
        contact, created = self._save(request, external_id=external_id, data=data)
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(ContactSerializer(contact).data, status=answer)

    def partial_update(self, request, *args, **kwargs):
        contact = self.get_object()
        if not contact.external_id:
            raise ValidationError({"non_field_errors": ["This contact came from a CRM; change it there."]})
        payload = ContactWriteSerializer(data={**request.data, "external_id": contact.external_id})
        payload.is_valid(raise_exception=True)
        data = {k: v for k, v in payload.validated_data.items() if k in request.data and k != "external_id"}
        self.error_fields = payload.fields
        contact, _ = self._save(request, external_id=contact.external_id, data=data)
        return Response(ContactSerializer(contact).data)


def deal_upsert_answer(request, *, deal: Deal | None):
    """POST /api/deals/ (deal None: found by external id, or made) and PATCH /api/deals/<id>/."""
    payload = DealWriteSerializer(data=request.data, deal=deal)
    payload.is_valid(raise_exception=True)
    data = dict(payload.validated_data)
    external_id = data.pop("external_id", None) or (deal.external_id if deal else None)
    if deal is None:
        deal = _visible_or_404(deals_visible_to(request.user), what="deal", external_id=external_id)
    elif external_id != deal.external_id:
        raise ValidationError({"external_id": ["A deal's external id is set once, when it is made."]})
    people = payload.people()
    _check_people(request.user, people)
    data.pop("contacts", None)
    with transaction.atomic():
        account = _account_for(request.user, data.pop("account", None))
        deal, created = deal_upsert(
            actor=request.user,
            external_id=external_id,
            existing=deal,
            account=account,
            contacts=people,
            **data,
        )
    return deal, created
