"""factory_boy factories shared by every test module."""

from __future__ import annotations

import hashlib

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from inventory import models as inv
from inventory.choices import Relation


def _commit(n: int) -> str:
    return hashlib.sha1(f"commit-{n}".encode(), usedforsecurity=False).hexdigest()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if create and extracted:
            if not Group.objects.filter(name=extracted).exists():
                # A transactional test before this one flushed the database, role groups included.
                from core.roles import sync_roles

                sync_roles()
            self.groups.add(Group.objects.get(name=extracted))


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.Application

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"App {n}")
    slug = factory.Sequence(lambda n: f"app-{n}")


class ModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.Model

    repo_id = factory.Sequence(lambda n: f"acme/model-{n}")
    author = "acme"
    pipeline_tag = "text-generation"
    library_name = "transformers"


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.ModelVersion

    model = factory.SubFactory(ModelFactory)
    commit = factory.Sequence(_commit)
    ref = "main"


class ModelFileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.ModelFile

    version = factory.SubFactory(ModelVersionFactory)
    path = factory.Sequence(lambda n: f"file-{n}.safetensors")
    size = 1024
    sha256 = factory.Sequence(lambda n: hashlib.sha256(str(n).encode()).hexdigest())
    is_lfs = True
    format = "safetensors"


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.Dataset
        django_get_or_create = ("repo_id",)

    repo_id = factory.Sequence(lambda n: f"acme/dataset-{n}")


class BaseModelLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.BaseModelLink

    version = factory.SubFactory(ModelVersionFactory)
    base = factory.SubFactory(ModelFactory)
    relation = Relation.FINETUNE
