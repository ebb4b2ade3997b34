Feature: Issuance
  Serialized credits for a verified monitoring period, four-eyes. The rules are the table of
  src/sovcarbon/domain/issue.py, one scenario per rule row, in the order of the table.

  Background:
    Given a registry where the Foundation holds 9,000,000 kg of one Premium T-VER issuance

  Rule: An admin requests, another person approves; the units appear in the account and the buffer

    Scenario: An issuance for vintage 2024 is requested and approved
      Given the ledger as it stands is noted
      When the admin posts to /v1/issuances with 5,000,000 kg for 2024
      And the approver approves the pending request
      Then it succeeds with status 200
      And the foundation account holds 13,500,000 kg held
      And the supply issued grew by 5,000,000 kg, 5,000,000 kg held
      And the journal gained entries of kinds "issuance_requested, issuance_approved"

  Rule: A refused request changes nothing

    Scenario Outline: request refused, <rule>
      Given a second project that is only submitted
      And the ledger as it stands is noted
      When the <who> posts to /v1/issuances with <case>
      Then it is refused with <code>
      And nothing changed: blocks, transactions, journal, outbox and idempotency rows

      Examples:
        | rule                                                         | who       | case                      | code |
        | only a registry admin requests                               | proponent | 5,000,000 kg for 2024     | 1002 |
        | the project is registered                                    | admin     | a submitted project       | 3001 |
        | quantity is a positive integer number of kg                  | admin     | zero kg                   | 2003 |
        | quantity and buffer are whole tonnes                         | admin     | 1,500 kg                  | 2004 |
        | the buffer is less than the quantity                         | admin     | a buffer above it         | 2003 |
        | the buffer is at least the standard's share                  | admin     | no buffer                 | 1003 |
        | the vintage lies inside the crediting period                 | admin     | vintage 2019              | 3006 |
        | no monitoring period is credited twice                       | admin     | the 2025 period again     | 2005 |
        | the quantity does not exceed the verified quantity           | admin     | more than verified        | 5003 |

  Rule: A refused decision changes nothing

    Scenario Outline: decision refused, <rule>
      Given the admin has requested an issuance of 5,000,000 kg for 2024
      And <before>
      And the ledger as it stands is noted
      When the <who> approves the pending request
      Then it is refused with <code>
      And nothing changed: blocks, transactions, journal, outbox and idempotency rows

      Examples:
        | rule                                                | before                        | who      | code |
        | a holder never approves                             | the ledger as it stands is noted | company  | 1002 |
        | the approver is not the requester                   | the ledger as it stands is noted | admin    | 3003 |
        | only a request pending approval can be approved     | the approver has approved it  | approver | 3002 |
