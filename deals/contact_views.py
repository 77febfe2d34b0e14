"""The deal page's buyers: whoever may see the deal adds, edits or removes its contacts and sees
who the nurture e-mails will reach. Each change is one call to a deals service; another team's
deal is a 404 before anything else."""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render

from deals.contacts import deal_contact_remove
from deals.errors import DealError
from deals.models import DealContact
from deals.records import deal_contact_create, deal_contact_update
from deals.selectors import deal_get_for_user


class DealContactForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    email = forms.EmailField(max_length=254, required=False, label="E-mail")
    title = forms.CharField(max_length=120, required=False, label="Job title")
    role = forms.CharField(max_length=100, required=False, label="Role on this deal",
                           help_text="For example Champion, Decision maker, Finance.")  # fmt: skip
    is_primary = forms.BooleanField(required=False, label="Primary contact (receives the buyer survey)")

    def __init__(self, *args, prefix_id: str = "contact", **kwargs):
        super().__init__(*args, auto_id=f"{prefix_id}-%s", **kwargs)


def _link(deal, contact_id: int) -> DealContact:
    link = DealContact.objects.select_related("contact").filter(deal=deal, contact_id=contact_id).first()
    if link is None:
        raise Http404("No such contact on this deal.")
    return link


def deal_contact_add_view(request, pk: int):
    deal = deal_get_for_user(user=request.user, pk=pk)  # first: a stranger learns nothing, not even 405
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = DealContactForm(request.POST)
    if form.is_valid():
        try:
            contact = deal_contact_create(deal=deal, actor=request.user, **form.cleaned_data)
        except DealError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"{contact.name} added to “{deal}”.")
            return redirect(f"/deals/{deal.pk}/#contacts")
    from deals.views import _detail

    return _detail(request, deal, contact_form=form, status=400)


def deal_contact_edit_view(request, pk: int, contact_id: int):
    deal = deal_get_for_user(user=request.user, pk=pk)
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
    link = _link(deal, contact_id)
    contact = link.contact
    initial = {"name": contact.name, "email": contact.email, "title": contact.title, "role": link.role,
               "is_primary": link.is_primary}  # fmt: skip
    form = DealContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            deal_contact_update(deal=deal, contact=contact, actor=request.user, **form.cleaned_data)
        except DealError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"{contact.name or 'Contact'} saved.")
            return redirect(f"/deals/{deal.pk}/#contacts")
    return render(
        request,
        "deals/contact_form.html",
        {"deal": deal, "contact": contact, "form": form},
        status=400 if request.method == "POST" else 200,
    )


def deal_contact_remove_view(request, pk: int, contact_id: int):
    deal = deal_get_for_user(user=request.user, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    link = _link(deal, contact_id)
    deal_contact_remove(deal=deal, contact=link.contact, actor=request.user)
    messages.success(
        request,
        f"{link.contact.name or 'The contact'} is no longer on “{deal}”; nothing more is sent to them "
        "about it.",
    )
    return redirect(f"/deals/{deal.pk}/#contacts")


def contact_erase_view(request, contact_id: int):
    """An admin erases a person who asked to be forgotten (deals.erasure.contact_erase)."""
    from django.core.exceptions import PermissionDenied
    from django.shortcuts import get_object_or_404

    from deals.erasure import contact_erase
    from deals.models import Contact

    if not request.user.is_revops_admin:
        raise PermissionDenied("Only admins erase people.")
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
    contact = get_object_or_404(Contact.objects.select_related("account"), pk=contact_id)
    deals = list(contact.deals.order_by("name")[:20])
    if request.method == "POST" and contact.erased_at is None:
        erasure = contact_erase(contact=contact, actor=request.user)
        messages.success(
            request,
            f"The contact is erased: {sum(erasure.removed.values())} rows no longer hold their name or "
            "address.",
        )
        return redirect(f"/deals/{deals[0].pk}/#contacts" if deals else "/deals/")
    return render(request, "deals/contact_erase.html", {"contact": contact, "deals": deals})
