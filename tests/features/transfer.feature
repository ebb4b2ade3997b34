Feature: Transfer
  Units move from one account to another, whole blocks or split to the kilogram.
  The rules are the table of src/sovcarbon/domain/transfer.py and src/sovcarbon/domain/holdings.py,
  one scenario per rule row, in the order of the tables.

  Background:
    Given a registry where the Foundation holds 9,000,000 kg of one Premium T-VER issuance

  Rule: The holder moves free units to another holding account; the moved part changes holder only

    Scenario: A partial transfer splits a block to the kilogram
      Given the ledger as it stands is noted
      When the proponent posts to /v1/transfers with 1,000 kg to the company
      Then it succeeds with status 201
      And the foundation account holds 8,999,000 kg held
      And the company account holds 1,000 kg held
      And the supply by state is unchanged
      And the journal gained one entry of kind "transfer"

  Rule: A refused transfer changes nothing

    Scenario Outline: refused, <rule>
      Given the serials 8,000,001 to 8,000,010 of the issuance are frozen
      And the proponent has retired the serials 1 to 10
      And the company account is suspended
      And the company has a retirement account
      And the ledger as it stands is noted
      When the <who> posts to /v1/transfers with <case>
      Then it is refused with <code>
      And nothing changed: blocks, transactions, journal, outbox and idempotency rows

      Examples:
        | rule                                                          | who       | case                          | code |
        | exactly one of quantity_kg or serials                         | proponent | both a quantity and serials   | 1003 |
        | the caller is the holder of the transferring account          | company   | 1,000 kg of the foundation's  | 1002 |
        | the two accounts differ                                       | proponent | 1,000 kg to itself            | 3005 |
        | the acquiring account is active                               | proponent | 1,000 kg to the company       | 3004 |
        | the acquiring account can hold units (not a retirement one)   | proponent | 1,000 kg to a retirement acct | 1003 |
        | serials are well-formed, inside one issuance, not overlapping | proponent | a reversed serial range       | 2002 |
        | a retired or cancelled kilogram never moves again             | proponent | retired serials to other      | 4004 |
        | the named units must be held by the transferring account      | other     | the foundation's serials      | 4002 |
        | units under a discrepancy freeze cannot move                  | proponent | frozen serials to other       | 4006 |
        | quantity is a positive integer number of kg                   | proponent | zero kg                       | 2003 |
        | a quantity only comes from the free balance                   | proponent | 9,000,000 kg to other         | 4001 |
