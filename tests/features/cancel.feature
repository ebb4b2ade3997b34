Feature: Cancellation
  Units are withdrawn (correction, reversal, voluntary cancellation), four-eyes. The rules are the table of
  src/sovcarbon/domain/cancel.py, one scenario per rule row, in the order of the table.

  Background:
    Given a registry where the Foundation holds 9,000,000 kg of one Premium T-VER issuance

  Rule: The holder (or an admin) requests, a registry approver approves; the units become final

    Scenario: A holder's cancellation is approved
      Given the ledger as it stands is noted
      When the proponent posts to /v1/cancellations with 1,000 kg of its own
      And the approver approves the pending request
      Then it succeeds with status 200
      And the foundation account holds 8,999,000 kg held
      And the supply moved 1,000 kg from held to cancelled
      And the journal gained entries of kinds "cancellation_requested, cancellation"

  Rule: A refused request changes nothing

    Scenario Outline: request refused, <rule>
      Given the ledger as it stands is noted
      When the <who> posts to /v1/cancellations with <case>
      Then it is refused with <code>
      And nothing changed: blocks, transactions, journal, outbox and idempotency rows

      Examples:
        | rule                                          | who     | case                     | code |
        | a holder requests for its own account only    | company | 1,000 kg of the foundation's | 1002 |

  Rule: A refused decision changes nothing

    Scenario Outline: decision refused, <rule>
      Given the proponent has requested the cancellation of the serials 100 to 109
      And <before>
      And the ledger as it stands is noted
      When the <who> approves the pending request
      Then it is refused with <code>
      And nothing changed: blocks, transactions, journal, outbox and idempotency rows

      Examples:
        | rule                                                       | before                                                    | who       | code |
        | only a registry approver approves: not the requester       | the ledger as it stands is noted                          | proponent | 1002 |
        | only a registry approver approves: never an admin          | the ledger as it stands is noted                          | admin     | 1002 |
        | only a pending request is approved                         | the approver has approved it                              | approver  | 3002 |
        | the units are checked again at approval: free then         | the serials 100 to 109 of the issuance are frozen         | approver  | 4006 |
