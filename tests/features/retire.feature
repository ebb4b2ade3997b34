Feature: Retirement
  Units are used for a claim and become final, with beneficiary, purpose and claim year.
  The rules are the table of src/sovcarbon/domain/retire.py (and holdings.py for the units), one
  scenario per rule row, in the order of the table.

  Background:
    Given a registry where the Foundation holds 9,000,000 kg of one Premium T-VER issuance

  Rule: The holder retires free units; they become final and leave the live supply

    Scenario: A voluntary retirement of part of a block
      Given the ledger as it stands is noted
      When the proponent posts to /v1/retirements with 1,000 kg voluntary
      Then it succeeds with status 201
      And the foundation account holds 8,999,000 kg held
      And the supply moved 1,000 kg from held to retired
      And the journal gained one entry of kind "retirement"

  Rule: A refused retirement changes nothing

    Scenario Outline: refused, <rule>
      Given the serials 8,000,001 to 8,000,010 of the issuance are frozen
      And the proponent has retired the serials 1 to 10
      And the other account is suspended
      And the ledger as it stands is noted
      When the <who> posts to /v1/retirements with <case>
      Then it is refused with <code>
      And nothing changed: blocks, transactions, journal, outbox and idempotency rows

      Examples:
        | rule                                                    | who       | case                        | code |
        | the caller controls the account                         | company   | 1,000 kg voluntary          | 1002 |
        | the account is active                                   | other     | 10 kg from a suspended acct | 3004 |
        | purpose is one of the registry's purposes               | proponent | an unknown purpose          | 1003 |
        | claim year is a plausible year                          | proponent | claim year 1800             | 1003 |
        | beneficiary names a name and an ISO country             | proponent | no beneficiary country      | 1003 |
        | a retired kilogram never moves again                    | proponent | retired serials             | 4004 |
        | units under a discrepancy freeze cannot be retired      | proponent | frozen serials              | 4006 |
        | a quantity only comes from the free balance             | proponent | 9,000,000 kg voluntary      | 4001 |
        | international purposes need an Article 6 authorization  | proponent | 1,000 kg for CORSIA         | 6001 |
