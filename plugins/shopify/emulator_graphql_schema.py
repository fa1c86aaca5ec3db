"""The part of Shopify's GraphQL Admin API (2024-10) the emulator serves, as SDL: the types,
fields and arguments keep Shopify's names, nullability and enums, so a query valid here is
valid against Shopify (the converse holds only for this subset). Sources: the object pages
under https://shopify.dev/docs/api/admin-graphql/2024-10 (``Customer``, ``Order``,
``LineItem``, ``AbandonedCheckout``, ``AbandonedCheckoutLineItem``, ``MailingAddress``,
``MoneyV2``, ``MoneyBag``, ``Product``, ``ProductVariant``, ``PageInfo``, ``BulkOperation``,
``Shop``), the queries ``customers``, ``orders``, ``abandonedCheckouts``, ``node``, ``nodes``,
``currentBulkOperation`` and the mutations ``tagsAdd``, ``tagsRemove``,
``bulkOperationRunQuery``, ``bulkOperationCancel``. ``emulator_graphql_types`` extends it
(2025-07) with the rest of what an app reading the whole shop asks."""

from __future__ import annotations

from functools import cache

from graphql import GraphQLSchema, build_schema

from syncd_plugins.shopify.emulator_graphql_types import PAGING, connection
from syncd_plugins.shopify.emulator_graphql_types import SDL as MORE
from syncd_plugins.shopify.emulator_webhooks import SDL as WEBHOOKS

#: ISO 4217 codes (a subset of Shopify's ``CurrencyCode``, which lists every currency)
CURRENCIES = (
    "AED AUD BRL CAD CHF CNY CZK DKK EUR GBP HKD HUF IDR ILS INR JPY KRW MXN MYR NOK NZD PHP "
    "PLN RON SEK SGD THB TRY TWD USD ZAR XXX"
)
#: ISO 3166-1 alpha-2, as Shopify's ``CountryCode`` (``ZZ`` is its "unknown region")
COUNTRIES = (
    "AC AD AE AF AG AI AL AM AN AO AR AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT "
    "GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR "
    "KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MK ML MM MN MO MQ MR MS MT MU "
    "MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PS PT PY "
    "QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TA TC TD "
    "TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VN VU WF WS XK YE "
    "YT ZA ZM ZW ZZ"
)


def listing(field: str, kind: str, sort: str) -> str:
    """A root query of ``kind`` objects (paged, sorted by ``sort`` unless asked otherwise,
    filtered by a search query) and the query counting them."""
    return (
        f"  {field}(\n    {PAGING},\n    sortKey: {kind}SortKeys = {sort}, query: String\n"
        f"  ): {kind}Connection!\n  {field}Count(query: String, limit: Int = 10000): Count\n"
    )


SDL = f"""
schema {{ query: QueryRoot mutation: Mutation }}

"An ISO 8601 date and time in UTC, such as 2024-01-01T00:00:00Z."
scalar DateTime
"A signed decimal number serialized as a string, such as \\"29.99\\"."
scalar Decimal
"A monetary value string without a currency symbol or code."
scalar Money
"An unsigned 64-bit integer serialized as a string."
scalar UnsignedInt64
"An RFC 3986 and RFC 3987 compliant URI string."
scalar URL

enum CurrencyCode {{ {CURRENCIES} }}
enum CountryCode {{ {COUNTRIES} }}

"An object with an ID field to support global identification."
interface Node {{ id: ID! }}

"An object with a legacy (REST) id."
interface LegacyInteroperability {{ legacyResourceId: UnsignedInt64! }}

"Information to aid in pagination."
type PageInfo {{
  endCursor: String
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
}}

"A monetary value with its currency."
type MoneyV2 {{ amount: Decimal! currencyCode: CurrencyCode! }}

"A collection of monetary values in their respective currencies."
type MoneyBag {{ presentmentMoney: MoneyV2! shopMoney: MoneyV2! }}

"A count with its precision."
type Count {{ count: Int! precision: CountPrecision! }}
enum CountPrecision {{ AT_LEAST EXACT }}

type MailingAddress implements Node {{
  address1: String
  address2: String
  city: String
  company: String
  coordinatesValidated: Boolean!
  country: String
  countryCodeV2: CountryCode
  firstName: String
  formatted(withName: Boolean = false, withCompany: Boolean = true): [String!]!
  formattedArea: String
  id: ID!
  lastName: String
  latitude: Float
  longitude: Float
  name: String
  phone: String
  province: String
  provinceCode: String
  timeZone: String
  validationResultSummary: MailingAddressValidationResult
  zip: String
}}
enum MailingAddressValidationResult {{ ERROR NO_ISSUES WARNING }}

enum CustomerState {{ DECLINED DISABLED ENABLED INVITED }}
enum CustomerEmailMarketingState {{
  INVALID NOT_SUBSCRIBED PENDING REDACTED SUBSCRIBED UNSUBSCRIBED
}}
enum CustomerMarketingOptInLevel {{ CONFIRMED_OPT_IN SINGLE_OPT_IN UNKNOWN }}

type CustomerEmailMarketingConsentState {{
  consentUpdatedAt: DateTime
  marketingOptInLevel: CustomerMarketingOptInLevel
  marketingState: CustomerEmailMarketingState!
}}

type Customer implements Node & LegacyInteroperability {{
  addresses(first: Int): [MailingAddress!]!
  amountSpent: MoneyV2!
  canDelete: Boolean!
  createdAt: DateTime!
  defaultAddress: MailingAddress
  displayName: String!
  email: String
  emailMarketingConsent: CustomerEmailMarketingConsentState
  firstName: String
  id: ID!
  lastName: String
  lastOrder: Order
  legacyResourceId: UnsignedInt64!
  lifetimeDuration: String!
  locale: String!
  note: String
  numberOfOrders: UnsignedInt64!
  orders(
    {PAGING},
    sortKey: OrderSortKeys = ID, query: String
  ): OrderConnection!
  phone: String
  state: CustomerState!
  tags: [String!]!
  taxExempt: Boolean!
  updatedAt: DateTime!
  validEmailAddress: Boolean!
  verifiedEmail: Boolean!
}}

{connection("Customer")}
enum CustomerSortKeys {{ CREATED_AT ID LOCATION NAME RELEVANCE UPDATED_AT }}

type Product implements Node & LegacyInteroperability {{
  createdAt: DateTime!
  handle: String!
  id: ID!
  legacyResourceId: UnsignedInt64!
  productType: String!
  status: ProductStatus!
  tags: [String!]!
  title: String!
  updatedAt: DateTime!
  vendor: String!
}}
enum ProductStatus {{ ACTIVE ARCHIVED DRAFT }}

type ProductVariant implements Node & LegacyInteroperability {{
  displayName: String!
  id: ID!
  legacyResourceId: UnsignedInt64!
  price: Money!
  product: Product!
  sku: String
  title: String!
}}

type LineItem implements Node {{
  currentQuantity: Int!
  discountedTotalSet: MoneyBag!
  id: ID!
  name: String!
  originalTotalSet: MoneyBag!
  originalUnitPriceSet: MoneyBag!
  product: Product
  quantity: Int!
  sku: String
  title: String!
  variant: ProductVariant
  variantTitle: String
  vendor: String
}}
{connection("LineItem")}
enum OrderDisplayFinancialStatus {{
  AUTHORIZED EXPIRED PAID PARTIALLY_PAID PARTIALLY_REFUNDED PENDING REFUNDED VOIDED
}}
enum OrderDisplayFulfillmentStatus {{
  FULFILLED IN_PROGRESS ON_HOLD OPEN PARTIALLY_FULFILLED PENDING_FULFILLMENT REQUEST_DECLINED
  RESTOCKED SCHEDULED UNFULFILLED
}}
enum OrderCancelReason {{ CUSTOMER DECLINED FRAUD INVENTORY OTHER STAFF }}

type Order implements Node & LegacyInteroperability {{
  cancelReason: OrderCancelReason
  cancelledAt: DateTime
  closed: Boolean!
  closedAt: DateTime
  createdAt: DateTime!
  currencyCode: CurrencyCode!
  currentTotalPriceSet: MoneyBag!
  customer: Customer
  discountCode: String
  discountCodes: [String!]!
  displayFinancialStatus: OrderDisplayFinancialStatus
  displayFulfillmentStatus: OrderDisplayFulfillmentStatus!
  email: String
  id: ID!
  legacyResourceId: UnsignedInt64!
  lineItems(
    {PAGING}
  ): LineItemConnection!
  name: String!
  note: String
  presentmentCurrencyCode: CurrencyCode!
  processedAt: DateTime!
  sourceName: String
  subtotalPriceSet: MoneyBag
  tags: [String!]!
  totalDiscountsSet: MoneyBag
  totalPriceSet: MoneyBag!
  totalTaxSet: MoneyBag
  updatedAt: DateTime!
}}
{connection("Order")}
enum OrderSortKeys {{
  CREATED_AT CUSTOMER_NAME FINANCIAL_STATUS FULFILLMENT_STATUS ID ORDER_NUMBER PROCESSED_AT
  RELEVANCE TOTAL_PRICE UPDATED_AT
}}

type AbandonedCheckoutLineItem implements Node {{
  discountedTotalPriceSet: MoneyBag!
  id: ID!
  originalTotalPriceSet: MoneyBag!
  originalUnitPriceSet: MoneyBag!
  product: Product
  quantity: Int!
  sku: String
  title: String
  variant: ProductVariant
  variantTitle: String
}}
{connection("AbandonedCheckoutLineItem")}
type AbandonedCheckout implements Node {{
  abandonedCheckoutUrl: URL!
  completedAt: DateTime
  createdAt: DateTime!
  customer: Customer
  discountCodes: [String!]!
  id: ID!
  lineItems(
    {PAGING}
  ): AbandonedCheckoutLineItemConnection!
  name: String!
  note: String!
  subtotalPriceSet: MoneyBag!
  taxesIncluded: Boolean!
  totalPriceSet: MoneyBag!
  updatedAt: DateTime!
}}
{connection("AbandonedCheckout")}
enum AbandonedCheckoutSortKeys {{ CHECKOUT_ID CREATED_AT CUSTOMER_NAME ID RELEVANCE TOTAL_PRICE }}

type Shop implements Node {{
  currencyCode: CurrencyCode!
  email: String!
  ianaTimezone: String!
  id: ID!
  myshopifyDomain: String!
  name: String!
  timezoneAbbreviation: String!
  url: URL!
}}

enum BulkOperationStatus {{ CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }}
enum BulkOperationType {{ MUTATION QUERY }}
enum BulkOperationErrorCode {{ ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT }}
enum BulkOperationUserErrorCode {{ INVALID OPERATION_IN_PROGRESS }}

type BulkOperation implements Node {{
  completedAt: DateTime
  createdAt: DateTime!
  errorCode: BulkOperationErrorCode
  fileSize: UnsignedInt64
  id: ID!
  objectCount: UnsignedInt64!
  partialDataUrl: URL
  query: String!
  rootObjectCount: UnsignedInt64!
  status: BulkOperationStatus!
  type: BulkOperationType!
  url: URL
}}

type UserError {{ field: [String!] message: String! }}
type BulkOperationUserError {{
  code: BulkOperationUserErrorCode
  field: [String!]
  message: String!
}}
type TagsAddPayload {{ node: Node userErrors: [UserError!]! }}
type TagsRemovePayload {{ node: Node userErrors: [UserError!]! }}
type BulkOperationRunQueryPayload {{
  bulkOperation: BulkOperation
  userErrors: [BulkOperationUserError!]!
}}
type BulkOperationCancelPayload {{
  bulkOperation: BulkOperation
  userErrors: [UserError!]!
}}

type QueryRoot {{
{listing("abandonedCheckouts", "AbandonedCheckout", "ID")}
  currentBulkOperation(type: BulkOperationType = QUERY): BulkOperation
  customer(id: ID!): Customer
{listing("customers", "Customer", "ID")}
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  order(id: ID!): Order
{listing("orders", "Order", "PROCESSED_AT")}
  shop: Shop!
}}

type Mutation {{
  bulkOperationCancel(id: ID!): BulkOperationCancelPayload
  bulkOperationRunQuery(query: String!, groupObjects: Boolean! = true): BulkOperationRunQueryPayload
  tagsAdd(id: ID!, tags: [String!]!): TagsAddPayload
  tagsRemove(id: ID!, tags: [String!]!): TagsRemovePayload
}}
"""


@cache
def schema() -> GraphQLSchema:
    """The schema, built once per process (it holds no state of any shop)."""
    return build_schema(SDL + MORE + WEBHOOKS)
