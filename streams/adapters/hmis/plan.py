"""From an HMIS export to the contract events it means (`plan_events`), and the rows that cannot be sent.

Enrollment + Client + Project -> participant.enrolled; Exit -> participant.exited; Services ->
service.delivered. A row is sent only when everything it needs is there and in HUD's code lists; the
rest become `Problem`s naming file, line and reason, never a value that identifies anyone.
Identifiers: the participant key from the client's names and date of birth (events-v1 section 3), or
the key that client was given by an earlier import (state.py); event ids and the ids in `data` are
uuid5 of the export's own record ids (streams/adapters/common.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

import orjson

from common.names import provider_topic
from streams.adapters.common import Planned, Problem, Where, id_namespace, keyed_hash, record_uuid
from streams.adapters.hmis.export import GENDER_COLUMNS_FY2024, Export, Row
from streams.adapters.hmis.mapping import (
    DESTINATIONS,
    MISSING_DATA_CODES,
    PROJECT_TYPES,
    SERVICE_CODES_FROM_2026,
    SERVICE_TYPES_PROVIDED,
    SEX_CODES,
    Mapping,
)
from streams.adapters.hmis.state import State
from streams.contract import Contract, Refusal
from streams.participant_key import normalize_name, participant_key
from streams.producer import build_envelope

#: HMIS has dates only: an entry is placed at the start of its day, a service at noon and an exit at
#: the end of the day, so that the events of one day sort as they happened.
ENTRY_AT, SERVICE_AT, EXIT_AT = time(0, 0), time(12, 0), time(23, 59, 59)

#: Record types in event ids: the file the record comes from, and the id fields of `data`.
ENROLLMENT_EVENT, EXIT_EVENT, SERVICE_EVENT = "hmis:Enrollment.csv", "hmis:Exit.csv", "hmis:Services.csv"
ENROLLMENT_ID, SERVICE_ID = "hmis:enrollment_id", "hmis:service_id"


class Skip(Exception):
    """This row cannot be sent; the message says why (no value from the row)."""


@dataclass(frozen=True)
class Client:
    where: Where
    person: str  # keyed hash of the PersonalID: how state.py names the client
    key: str | None
    key_problem: str | None
    demographics: dict | None
    demographics_problem: str | None


@dataclass
class Plan:
    """What an export means: events to send (with whose they are), rows not sent, notes."""

    events: list[Planned] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    person_of: dict[str, str] = field(default_factory=dict)  # event id -> client (keyed PersonalID)
    keys: dict[str, str] = field(default_factory=dict)  # client -> participant key used


class Planner:
    """Plans one export for one provider. `contract` checks each event as the pipeline will."""

    def __init__(
        self,
        export: Export,
        provider_id: str,
        secret: bytes,
        mapping: Mapping,
        state: State,
        contract: Contract,
    ):
        self.export, self.provider_id, self.secret = export, provider_id, secret
        self.mapping, self.state, self.contract = mapping, state, contract
        self.namespace = id_namespace(secret)
        self.plan = Plan()
        self.projects: dict[str, tuple[Row, str | None, str | None]] = {}
        self.clients: dict[str, Client] = {}
        self.enrollments: dict[str, tuple[Row, str | None]] = {}  # EnrollmentID -> (row, why not sent)

    def run(self) -> Plan:
        self._projects()
        self._clients()
        for row in self.export.rows["Enrollment.csv"]:
            self._attempt(row, self._enrollment)
        seen_exit_for: set[str] = set()
        for row in self.export.rows["Exit.csv"]:
            self._attempt(row, lambda r: self._exit(r, seen_exit_for))
        for row in self.export.rows["Services.csv"]:
            self._attempt(row, self._service)
        return self.plan

    # --- rows of each file --------------------------------------------------------------------

    def _projects(self) -> None:
        for row in self.export.rows["Project.csv"]:
            project_id = row["ProjectID"]
            if not project_id:
                self._problem(row, "blank ProjectID")
                continue
            if project_id in self.projects:
                self._problem(row, f"ProjectID repeats {self.projects[project_id][0].where}")
                continue
            program_type, why = None, None
            try:
                program_type = self._program_type(row)
            except Skip as exc:
                why = str(exc)
            if row["DateDeleted"]:
                why = "deleted in HMIS (DateDeleted set)"
            self.projects[project_id] = (row, program_type, why)
            if why:
                self._problem(row, f"{why}: its enrollments are not sent")

    def _program_type(self, row: Row) -> str:
        code = _code(row, "ProjectType", PROJECT_TYPES, "2.02.6")
        by_project = self.mapping.project_program_type
        program_type = (
            by_project[row["ProjectID"]]
            if row["ProjectID"] in by_project
            else self.mapping.program_type[code]
        )
        if program_type is None:
            raise Skip(
                f"ProjectType {code} ({PROJECT_TYPES[code]}) has no program type in the contract: "
                f'map it in the mapping file ([program_type] "{code}" = ..., '
                "or [project_program_type] for this ProjectID)"
            )
        return program_type

    def _clients(self) -> None:
        for row in self.export.rows["Client.csv"]:
            personal_id = row["PersonalID"]
            if not personal_id:
                self._problem(row, "blank PersonalID")
                continue
            if personal_id in self.clients:
                self._problem(row, f"PersonalID repeats {self.clients[personal_id].where}: not sent")
                continue
            self.clients[personal_id] = self._client(row)

    def _client(self, row: Row) -> Client:
        person = keyed_hash(self.secret, "hmis:PersonalID", self.provider_id, row["PersonalID"])
        earlier = self.state.participants.get(person)
        key, key_problem = None, None
        if row["DateDeleted"]:
            key_problem = "deleted in HMIS (DateDeleted set)"
        else:
            try:
                key = self._participant_key(row)
            except Skip as exc:
                key_problem = str(exc)
        if earlier and key != earlier and not row["DateDeleted"]:
            what = "no longer gives a key" if key is None else "gives another key"
            self._note(
                row, f"its name or date of birth {what} than at its first import: that first key is kept"
            )
            key, key_problem = earlier, None
        if key_problem:
            self._problem(row, f"{key_problem}: the client's records are not sent")
        demographics, demographics_problem = None, None
        try:
            demographics = self._demographics(row)
        except Skip as exc:
            demographics_problem = str(exc)
            if not key_problem:
                self._problem(row, f"{exc}: the client's enrollments are not sent")
        return Client(row.where, person, key, key_problem, demographics, demographics_problem)

    def _participant_key(self, row: Row) -> str:
        last, first = normalize_name(row["LastName"]), normalize_name(row["FirstName"])
        if not last or not first:
            raise Skip(
                "no first or last name (A-Z letters): the participant key needs both names and the DOB"
            )
        if not row["DOB"]:
            raise Skip("no date of birth: the participant key needs both names and the DOB")
        dob = _date(row, "DOB")
        return participant_key(self.secret, row["LastName"], row["FirstName"], dob)

    def _demographics(self, row: Row) -> dict:
        birth_year = None
        if row["DOB"]:
            year = _date(row, "DOB").year
            birth_year = year if 1900 <= year <= 2026 else None
        gender = self._gender_2024(row) if self.export.version == "2024" else self._sex_2026(row)
        return {"birth_year": birth_year, "gender": gender, "race_ethnicity": self._race(row)}

    def _gender_2024(self, row: Row) -> str:
        marked = [c for c in GENDER_COLUMNS_FY2024 if _flag(row, c)]
        _missing_reason(row, "GenderNone")
        if not marked:
            return "unknown"
        decided = {self.mapping.gender[c] for c in marked} - {None}
        return decided.pop() if len(decided) == 1 else "other"

    def _sex_2026(self, row: Row) -> str:
        if not row["Sex"]:
            return "unknown"
        code = _code(row, "Sex", SEX_CODES, "4.21")
        gender = self.mapping.sex.get(code)
        if gender is None:
            raise Skip(f"Sex {code} has no gender in the mapping file's [sex] table")
        return gender

    def _race(self, row: Row) -> list[str]:
        _missing_reason(row, "RaceNone")
        categories = []
        for column, category in self.mapping.race_ethnicity.items():
            if column in row.values and _flag(row, column) and category and category not in categories:
                categories.append(category)
        return sorted(categories)

    def _enrollment(self, row: Row) -> None:
        enrollment_id = _required(row, "EnrollmentID", "PersonalID", "ProjectID")
        if enrollment_id in self.enrollments:
            raise Skip(f"EnrollmentID repeats {self.enrollments[enrollment_id][0].where}")
        self.enrollments[enrollment_id] = (row, "not sent")  # until it is planned
        event_id = record_uuid(self.namespace, self.provider_id, ENROLLMENT_EVENT, enrollment_id)
        self._not_deleted(row, event_id)
        client = self._client_of(row)
        if client.demographics is None:
            raise Skip(f"its client ({client.where}): {client.demographics_problem}")
        project = self.projects.get(row["ProjectID"])
        if project is None:
            raise Skip("its ProjectID is not in Project.csv")
        if project[2]:
            raise Skip(f"its project ({project[0].where}): {project[2]}")
        data = {
            "enrollment_id": record_uuid(self.namespace, self.provider_id, ENROLLMENT_ID, enrollment_id),
            "program_type": project[1],
            "referral_id": None,  # HMIS records the kind of referral source, not a referral of the network
            "risk_level": None,
            **client.demographics,
            "zip3": None,  # the HMIS CSV has no client address since FY2024
        }
        when = self._at(row, "EntryDate", ENTRY_AT)
        self._add(
            Planned("participant.enrolled", event_id, when, client.key, data, row.where, row["DateUpdated"]),
            client,
        )
        self.enrollments[enrollment_id] = (row, None)

    def _exit(self, row: Row, seen_exit_for: set[str]) -> None:
        exit_id = _required(row, "ExitID", "EnrollmentID", "PersonalID")
        event_id = record_uuid(self.namespace, self.provider_id, EXIT_EVENT, exit_id)
        self._not_deleted(row, event_id)
        if row["EnrollmentID"] in seen_exit_for:
            raise Skip("a second exit of the same enrollment")
        seen_exit_for.add(row["EnrollmentID"])
        client = self._enrolled_client(row)
        code = _code(row, "Destination", DESTINATIONS, "3.12")
        exit_reason = self.mapping.exit_reason.get(code)
        if exit_reason is None:
            raise Skip(f"Destination {code} has no exit reason: map it in the mapping file's [exit_reason]")
        data = {"enrollment_id": self._enrollment_uuid(row), "exit_reason": exit_reason}
        when = self._at(row, "ExitDate", EXIT_AT)
        self._add(
            Planned("participant.exited", event_id, when, client.key, data, row.where, row["DateUpdated"]),
            client,
        )

    def _service(self, row: Row) -> None:
        services_id = _required(row, "ServicesID", "EnrollmentID", "PersonalID")
        event_id = record_uuid(self.namespace, self.provider_id, SERVICE_EVENT, services_id)
        self._not_deleted(row, event_id)
        client = self._enrolled_client(row)
        record_type = _code(row, "RecordType", SERVICE_TYPES_PROVIDED, "1.4")
        label, provided = SERVICE_TYPES_PROVIDED[record_type]
        type_provided = _integer(row, "TypeProvided")
        too_new = (record_type, type_provided) in SERVICE_CODES_FROM_2026 and self.export.version != "2026"
        if type_provided not in provided or too_new:
            raise Skip(
                f"TypeProvided {type_provided} is not in HUD's list for RecordType {record_type} ({label})"
            )
        service_type = self.mapping.service_type.get((record_type, type_provided))
        if service_type is None:
            raise Skip(
                f"RecordType {record_type} ({label}) TypeProvided {type_provided} has no service type in the "
                f'contract: map it in the mapping file ([service_type] "{record_type}:{type_provided}" = ...)'
            )
        data = {
            "service_id": record_uuid(self.namespace, self.provider_id, SERVICE_ID, services_id),
            "service_type": service_type,
            "duration_minutes": None,  # Services.csv records the day, not the time spent
            "referral_id": None,
        }
        when = self._at(row, "DateProvided", SERVICE_AT)
        self._add(
            Planned("service.delivered", event_id, when, client.key, data, row.where, row["DateUpdated"]),
            client,
        )

    # --- shared steps ---------------------------------------------------------------------------

    def _attempt(self, row: Row, step) -> None:
        try:
            step(row)
        except Skip as exc:
            self._problem(row, str(exc))

    def _not_deleted(self, row: Row, event_id: str) -> None:
        if not row["DateDeleted"]:
            return
        if event_id in self.state.events:
            raise Skip(
                "deleted in HMIS after it was sent: the contract has no event to withdraw it; "
                "ask the network's operators to remove it"
            )
        raise Skip("deleted in HMIS (DateDeleted set)")

    def _client_of(self, row: Row) -> Client:
        client = self.clients.get(row["PersonalID"])
        if client is None:
            person = keyed_hash(self.secret, "hmis:PersonalID", self.provider_id, row["PersonalID"])
            if person in self.state.participants:  # keyed by an earlier import
                return Client(
                    row.where, person, self.state.participants[person], None, None, "not in this export"
                )
            raise Skip("its PersonalID is not in Client.csv")
        if client.key is None:
            raise Skip(f"its client ({client.where}) has no participant key: {client.key_problem}")
        return client

    def _enrolled_client(self, row: Row) -> Client:
        """The client of an exit or service, once its enrollment is known to be sent (now or before)."""
        enrollment_id = row["EnrollmentID"]
        sent_before = record_uuid(self.namespace, self.provider_id, ENROLLMENT_EVENT, enrollment_id) in (
            self.state.events
        )
        known = self.enrollments.get(enrollment_id)
        if known is not None:
            enrollment_row, why_not = known
            if why_not and not sent_before:
                raise Skip(f"its enrollment ({enrollment_row.where}) is not sent")
            if enrollment_row["PersonalID"] != row["PersonalID"]:
                raise Skip(f"its PersonalID is not the one of its enrollment ({enrollment_row.where})")
        elif not sent_before:
            raise Skip("its EnrollmentID is neither in Enrollment.csv nor sent by an earlier import")
        return self._client_of(row)

    def _enrollment_uuid(self, row: Row) -> str:
        return record_uuid(self.namespace, self.provider_id, ENROLLMENT_ID, row["EnrollmentID"])

    def _at(self, row: Row, column: str, at: time) -> datetime:
        if not row[column]:
            raise Skip(f"blank {column}")
        return datetime.combine(_date(row, column), at, tzinfo=self.mapping.timezone)

    def _add(self, planned: Planned, client: Client) -> None:
        envelope = build_envelope(
            self.provider_id, planned.type, planned.subject, planned.data, planned.time, planned.event_id
        )
        checked = self.contract.check(orjson.dumps(envelope), provider_topic(self.provider_id))
        if isinstance(checked, Refusal):  # e.g. a date more than a day ahead (future_time)
            raise Skip(f"the contract refuses the {planned.type} event: {checked.reason} ({checked.detail})")
        self.plan.events.append(planned)
        self.plan.person_of[planned.event_id] = client.person
        self.plan.keys[client.person] = planned.subject

    def _problem(self, row: Row, reason: str) -> None:
        self.plan.problems.append(Problem(row.where, reason))

    def _note(self, row: Row, note: str) -> None:
        self.plan.notes.append(Problem(row.where, note))


def _required(row: Row, *columns: str) -> str:
    """The first column's value, once every one of `columns` is filled in."""
    blank = [c for c in columns if not row[c]]
    if blank:
        raise Skip(f"blank {', '.join(blank)}")
    return row[columns[0]]


def _integer(row: Row, column: str) -> int:
    text = row[column]
    if not text.lstrip("-").isdigit():
        raise Skip(f"{column} is {'blank' if not text else 'not a whole number'}")
    return int(text)


def _code(row: Row, column: str, codes: dict, hud_list: str) -> int:
    code = _integer(row, column)
    if code not in codes:
        raise Skip(f"{column} {code} is not in HUD's list {hud_list}")
    return code


def _flag(row: Row, column: str) -> bool:
    """A 0/1 column (blank counts as 0); anything else is outside HUD's list 1.10."""
    value = row[column]
    if value not in ("", "0", "1"):
        raise Skip(f"{column} is not 0 or 1 (HUD list 1.10)")
    return value == "1"


def _missing_reason(row: Row, column: str) -> None:
    value = row[column]
    if value and (not value.isdigit() or int(value) not in MISSING_DATA_CODES):
        raise Skip(f"{column} is not 8, 9 or 99 (HUD list 1.6)")


def _date(row: Row, column: str) -> date:
    # HUD's CSV writes dates as yyyy-mm-dd and date-times as yyyy-mm-dd hh:mm:ss.
    text = row[column]
    try:
        return date.fromisoformat(text[:10]) if len(text) in (10, 19) else date.fromisoformat(text)
    except ValueError:
        raise Skip(f"{column} is not a date in the form yyyy-mm-dd") from None
