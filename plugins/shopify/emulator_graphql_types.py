"""The rest of the emulator's GraphQL Admin API schema (2025-07), as SDL extending
``emulator_graphql_schema``: what an app that reads the whole shop asks of it (Singer's
``tap-shopify`` asks all of it). Products and their variants, media and options; collections
and their rules; locations, inventory items and levels; events; metafields on customers,
products, orders and collections; orders in full (addresses, money sets, tax and discount
lines, shipping lines, fulfillments, refunds, transactions, duties, disputes); abandoned
checkouts in full; fulfillment orders and fulfillments; the app's installation and its access
scopes. Types, fields, arguments, nullability and enums carry Shopify's names; sources: the
object, interface, union, enum and query pages under
https://shopify.dev/docs/api/admin-graphql/2025-07 (each type by its own name, e.g.
``.../objects/FulfillmentOrder``, ``.../interfaces/Event``, ``.../unions/PricingValue``)."""

from __future__ import annotations

PAGING = "first: Int, after: String, last: Int, before: String, reverse: Boolean = false"
#: the fields of ``HasMetafields``, which each type implementing it repeats
METAFIELDS = f"""  metafield(namespace: String, key: String!): Metafield
  metafields({PAGING}, namespace: String, keys: [String!]): MetafieldConnection!"""


def connection(kind: str) -> str:
    """The Relay connection and edge types of ``kind``."""
    return (
        f"type {kind}Edge {{ cursor: String! node: {kind}! }}\n"
        f"type {kind}Connection {{ edges: [{kind}Edge!]! nodes: [{kind}!]! pageInfo: PageInfo! }}\n"
    )


CONNECTIONS = "".join(
    connection(k)
    for k in (
        "Product",
        "ProductVariant",
        "Collection",
        "Location",
        "InventoryItem",
        "InventoryLevel",
        "Event",
        "Metafield",
        "Media",
        "CountryHarmonizedSystemCode",
        "DiscountApplication",
        "ShippingLine",
        "OrderAdjustment",
        "RefundLineItem",
        "FulfillmentOrder",
        "FulfillmentOrderMerchantRequest",
        "FulfillmentOrderLocationForMove",
        "FulfillmentOrderLineItem",
        "Fulfillment",
        "FulfillmentLineItem",
        "FulfillmentEvent",
    )
)

#: the fields of ``DiscountApplication``, which each type implementing it repeats
DISCOUNT_APPLICATION = {
    "allocationMethod": "DiscountApplicationAllocationMethod!",
    "index": "Int!",
    "targetSelection": "DiscountApplicationTargetSelection!",
    "targetType": "DiscountApplicationTargetType!",
    "value": "PricingValue!",
}


def discount_application(kind: str, **more: str) -> str:
    """The SDL of ``kind``, a type implementing ``DiscountApplication`` with ``more`` fields
    ({name: type}), its fields by name."""
    fields = "".join(f"  {n}: {t}\n" for n, t in sorted({**DISCOUNT_APPLICATION, **more}.items()))
    return f"type {kind} implements DiscountApplication {{\n{fields}}}\n"


DISCOUNT_APPLICATIONS = (
    "interface DiscountApplication {\n"
    + "".join(f"  {n}: {t}\n" for n, t in DISCOUNT_APPLICATION.items())
    + "}\n"
    + discount_application("AutomaticDiscountApplication", title="String!")
    + discount_application("DiscountCodeApplication", code="String!")
    + discount_application("ManualDiscountApplication", description="String", title="String!")
    + discount_application("ScriptDiscountApplication", title="String!")
)

SDL = (
    CONNECTIONS
    + """
"A string containing HTML code."
scalar HTML
"A JSON object."
scalar JSON
"A string with rich text formatting."
scalar FormattedString

enum WeightUnit { GRAMS KILOGRAMS OUNCES POUNDS }
enum TaxExemption {
  CA_BC_COMMERCIAL_FISHERY_EXEMPTION CA_BC_CONTRACTOR_EXEMPTION
  CA_BC_PRODUCTION_AND_MACHINERY_EXEMPTION CA_BC_RESELLER_EXEMPTION
  CA_BC_SUB_CONTRACTOR_EXEMPTION CA_DIPLOMAT_EXEMPTION
  CA_MB_COMMERCIAL_FISHERY_EXEMPTION CA_MB_FARMER_EXEMPTION CA_MB_RESELLER_EXEMPTION
  CA_NS_COMMERCIAL_FISHERY_EXEMPTION CA_NS_FARMER_EXEMPTION CA_ON_PURCHASE_EXEMPTION
  CA_PE_COMMERCIAL_FISHERY_EXEMPTION CA_SK_COMMERCIAL_FISHERY_EXEMPTION
  CA_SK_CONTRACTOR_EXEMPTION CA_SK_FARMER_EXEMPTION CA_SK_PRODUCTION_AND_MACHINERY_EXEMPTION
  CA_SK_RESELLER_EXEMPTION CA_SK_SUB_CONTRACTOR_EXEMPTION CA_STATUS_CARD_EXEMPTION
  EU_REVERSE_CHARGE_EXEMPTION_RULE US_AK_RESELLER_EXEMPTION US_AL_RESELLER_EXEMPTION
  US_CA_RESELLER_EXEMPTION US_NY_RESELLER_EXEMPTION US_TX_RESELLER_EXEMPTION
  US_WA_RESELLER_EXEMPTION
}
enum CustomerSmsMarketingState { NOT_SUBSCRIBED PENDING REDACTED SUBSCRIBED UNSUBSCRIBED }
enum CustomerConsentCollectedFrom { OTHER SHOPIFY }
enum CustomerProductSubscriberStatus {
  ACTIVE CANCELLED EXPIRED FAILED NEVER_SUBSCRIBED PAUSED
}

"A key and value pair, such as a line item's property."
type Attribute { key: String! value: String }

type CustomerSmsMarketingConsentState {
  consentCollectedFrom: CustomerConsentCollectedFrom
  consentUpdatedAt: DateTime
  marketingOptInLevel: CustomerMarketingOptInLevel!
  marketingState: CustomerSmsMarketingState!
}

interface HasMetafields {
"""
    + METAFIELDS
    + """
}

enum MetafieldOwnerType {
  API_PERMISSION ARTICLE BLOG CARTTRANSFORM COLLECTION COMPANY COMPANY_LOCATION CUSTOMER
  DELIVERY_CUSTOMIZATION DISCOUNT DRAFTORDER FULFILLMENT_CONSTRAINT_RULE GIFT_CARD_TRANSACTION
  LOCATION MARKET MEDIA_IMAGE ORDER ORDER_ROUTING_LOCATION_RULE PAGE PAYMENT_CUSTOMIZATION
  PRODUCT PRODUCTVARIANT SELLING_PLAN SHOP VALIDATION
}

type Metafield implements Node & LegacyInteroperability {
  createdAt: DateTime!
  description: String
  id: ID!
  jsonValue: JSON!
  key: String!
  legacyResourceId: UnsignedInt64!
  namespace: String!
  owner: HasMetafields!
  ownerType: MetafieldOwnerType!
  type: String!
  updatedAt: DateTime!
  value: String!
}

extend type Customer implements HasMetafields {
  dataSaleOptOut: Boolean!
"""
    + METAFIELDS
    + """
  multipassIdentifier: String
  productSubscriberStatus: CustomerProductSubscriberStatus!
  smsMarketingConsent: CustomerSmsMarketingConsentState
  taxExemptions: [TaxExemption!]!
}

type AccessScope { description: String! handle: String! }
type App implements Node {
  icon: Image!
  id: ID!
  name: String!
}
type AppInstallation implements Node {
  accessScopes: [AccessScope!]!
  app: App!
  id: ID!
}

# --- products ---------------------------------------------------------------------------

enum ProductSortKeys {
  CREATED_AT ID INVENTORY_TOTAL PRODUCT_TYPE PUBLISHED_AT RELEVANCE TITLE UPDATED_AT VENDOR
}
enum ProductVariantSortKeys {
  FULL_TITLE ID INVENTORY_LEVELS_AVAILABLE INVENTORY_MANAGEMENT INVENTORY_POLICY
  INVENTORY_QUANTITY NAME POPULAR POSITION RELEVANCE SKU TITLE
}
enum ProductVariantInventoryPolicy { CONTINUE DENY }
enum ProductMediaSortKeys { ID POSITION RELEVANCE }
enum MediaContentType { EXTERNAL_VIDEO IMAGE MODEL_3D VIDEO }
enum MediaStatus { FAILED PROCESSING READY UPLOADED }
enum MediaErrorCode {
  DUPLICATE_FILENAME_ERROR EXTERNAL_VIDEO_EMBED_DISABLED
  EXTERNAL_VIDEO_EMBED_NOT_FOUND_OR_TRANSCODING EXTERNAL_VIDEO_INVALID_ASPECT_RATIO
  EXTERNAL_VIDEO_NOT_FOUND EXTERNAL_VIDEO_UNLISTED
  FILE_STORAGE_LIMIT_EXCEEDED GENERIC_FILE_DOWNLOAD_FAILURE GENERIC_FILE_INVALID_SIZE
  IMAGE_DOWNLOAD_FAILURE IMAGE_PROCESSING_FAILURE INVALID_IMAGE_ASPECT_RATIO
  INVALID_IMAGE_FILE_SIZE INVALID_IMAGE_RESOLUTION INVALID_SIGNED_URL MEDIA_TIMEOUT_ERROR
  MODEL3D_GLB_OUTPUT_CREATION_ERROR MODEL3D_GLB_TO_USDZ_CONVERSION_ERROR
  MODEL3D_PROCESSING_FAILURE MODEL3D_THUMBNAIL_GENERATION_ERROR
  MODEL3D_THUMBNAIL_REGENERATION_ERROR MODEL3D_VALIDATION_ERROR UNKNOWN
  UNSUPPORTED_IMAGE_FILE_TYPE VIDEO_INVALID_FILETYPE_ERROR VIDEO_MAX_DURATION_ERROR
  VIDEO_MAX_HEIGHT_ERROR VIDEO_MAX_WIDTH_ERROR VIDEO_METADATA_READ_ERROR
  VIDEO_MIN_DURATION_ERROR VIDEO_MIN_HEIGHT_ERROR VIDEO_MIN_WIDTH_ERROR
  VIDEO_VALIDATION_ERROR
}
enum MediaWarningCode { MODEL_LARGE_PHYSICAL_SIZE MODEL_SMALL_PHYSICAL_SIZE }

type Image {
  altText: String
  height: Int
  id: ID
  url(transform: JSON): URL!
  width: Int
}
type MediaError { code: MediaErrorCode! details: String message: String! }
type MediaWarning { code: MediaWarningCode! message: String }

interface Media {
  alt: String
  id: ID!
  mediaContentType: MediaContentType!
  mediaErrors: [MediaError!]!
  mediaWarnings: [MediaWarning!]!
  status: MediaStatus!
}
type MediaImage implements Media & Node {
  alt: String
  createdAt: DateTime!
  id: ID!
  image: Image
  mediaContentType: MediaContentType!
  mediaErrors: [MediaError!]!
  mediaWarnings: [MediaWarning!]!
  mimeType: String
  status: MediaStatus!
  updatedAt: DateTime!
}
type ExternalVideo implements Media & Node {
  alt: String
  embedUrl: URL!
  id: ID!
  mediaContentType: MediaContentType!
  mediaErrors: [MediaError!]!
  mediaWarnings: [MediaWarning!]!
  status: MediaStatus!
}
type Model3dSource { filesize: Int! format: String! mimeType: String! url: String! }
type Model3d implements Media & Node {
  alt: String
  filename: String!
  id: ID!
  mediaContentType: MediaContentType!
  mediaErrors: [MediaError!]!
  mediaWarnings: [MediaWarning!]!
  sources: [Model3dSource!]!
  status: MediaStatus!
}
type VideoSource {
  fileSize: Int
  format: String!
  height: Int!
  mimeType: String!
  url: String!
  width: Int!
}
type Video implements Media & Node {
  alt: String
  createdAt: DateTime!
  filename: String!
  id: ID!
  mediaContentType: MediaContentType!
  mediaErrors: [MediaError!]!
  mediaWarnings: [MediaWarning!]!
  sources: [VideoSource!]!
  status: MediaStatus!
  updatedAt: DateTime!
}

type ProductOption implements Node {
  id: ID!
  name: String!
  position: Int!
  values: [String!]!
}
type ProductCompareAtPriceRange {
  maxVariantCompareAtPrice: MoneyV2!
  minVariantCompareAtPrice: MoneyV2!
}
type TaxonomyCategory implements Node {
  fullName: String!
  id: ID!
  isLeaf: Boolean!
  isRoot: Boolean!
  name: String!
}

extend type Product implements HasMetafields {
  category: TaxonomyCategory
  compareAtPriceRange: ProductCompareAtPriceRange
  description(truncateAt: Int): String!
  descriptionHtml: HTML!
  featuredMedia: Media
  giftCardTemplateSuffix: String
  hasOnlyDefaultVariant: Boolean!
  hasOutOfStockVariants: Boolean!
  hasVariantsThatRequiresComponents: Boolean!
  isGiftCard: Boolean!
  media("""
    + PAGING
    + """, sortKey: ProductMediaSortKeys = POSITION, query: String):
    MediaConnection!
"""
    + METAFIELDS
    + """
  options(first: Int): [ProductOption!]!
  publishedAt: DateTime
  requiresSellingPlan: Boolean!
  templateSuffix: String
  totalInventory: Int!
  tracksInventory: Boolean!
  variants("""
    + PAGING
    + """, sortKey: ProductVariantSortKeys = POSITION):
    ProductVariantConnection!
}

extend type ProductVariant {
  availableForSale: Boolean!
  barcode: String
  compareAtPrice: Money
  createdAt: DateTime!
  image: Image
  inventoryItem: InventoryItem!
  inventoryPolicy: ProductVariantInventoryPolicy!
  inventoryQuantity: Int
  position: Int!
  requiresComponents: Boolean!
  sellableOnlineQuantity: Int!
  taxCode: String
  taxable: Boolean!
  updatedAt: DateTime!
}

# --- collections ------------------------------------------------------------------------

enum CollectionSortKeys { ID RELEVANCE TITLE UPDATED_AT }
enum CollectionSortOrder {
  ALPHA_ASC ALPHA_DESC BEST_SELLING CREATED CREATED_DESC MANUAL PRICE_ASC PRICE_DESC
}
enum CollectionRuleColumn {
  IS_PRICE_REDUCED PRODUCT_CATEGORY_ID PRODUCT_CATEGORY_ID_WITH_DESCENDANTS
  PRODUCT_METAFIELD_DEFINITION PRODUCT_TAXONOMY_NODE_ID TAG TITLE TYPE VARIANT_COMPARE_AT_PRICE
  VARIANT_INVENTORY VARIANT_METAFIELD_DEFINITION VARIANT_PRICE VARIANT_TITLE VARIANT_WEIGHT
  VENDOR
}
enum CollectionRuleRelation {
  CONTAINS ENDS_WITH EQUALS GREATER_THAN IS_NOT_SET IS_SET LESS_THAN NOT_CONTAINS NOT_EQUALS
  STARTS_WITH
}
type CollectionRule {
  column: CollectionRuleColumn!
  condition: String!
  relation: CollectionRuleRelation!
}
type CollectionRuleSet { appliedDisjunctively: Boolean! rules: [CollectionRule!]! }
type SEO { description: String title: String }
type ResourceFeedback { summary: String! }

type Collection implements Node & HasMetafields & LegacyInteroperability {
  description(truncateAt: Int): String!
  descriptionHtml: HTML!
  feedback: ResourceFeedback
  handle: String!
  id: ID!
  legacyResourceId: UnsignedInt64!
"""
    + METAFIELDS
    + """
  products("""
    + PAGING
    + """, sortKey: ProductCollectionSortKeys = COLLECTION_DEFAULT,
    query: String): ProductConnection!
  productsCount: Count
  ruleSet: CollectionRuleSet
  seo: SEO!
  sortOrder: CollectionSortOrder!
  templateSuffix: String
  title: String!
  updatedAt: DateTime!
}
enum ProductCollectionSortKeys {
  BEST_SELLING COLLECTION_DEFAULT CREATED ID MANUAL PRICE RELEVANCE TITLE
}

# --- locations and inventory ------------------------------------------------------------

enum LocationSortKeys { ID NAME RELEVANCE }
enum DeliveryLocalPickupTime {
  CUSTOM FIVE_OR_MORE_DAYS FOUR_HOURS ONE_HOUR TWENTY_FOUR_HOURS TWO_HOURS TWO_TO_FOUR_DAYS
}
type LocationAddress {
  address1: String
  address2: String
  city: String
  country: String
  countryCode: String
  formatted: [String!]!
  latitude: Float
  longitude: Float
  phone: String
  province: String
  provinceCode: String
  zip: String
}
type LocationSuggestedAddress {
  address1: String
  address2: String
  city: String
  country: String
  countryCode: CountryCode
  formatted: [String!]!
  province: String
  provinceCode: String
  zip: String
}
type DeliveryLocalPickupSettings { instructions: String! pickupTime: DeliveryLocalPickupTime! }
type FulfillmentService {
  callbackUrl: URL
  handle: String!
  id: ID!
  inventoryManagement: Boolean!
  location: Location
  permitsSkuSharing: Boolean!
  serviceName: String!
  trackingSupport: Boolean!
  type: FulfillmentServiceType!
}
enum FulfillmentServiceType { GIFT_CARD MANUAL THIRD_PARTY }

type Location implements Node & HasMetafields & LegacyInteroperability {
  activatable: Boolean!
  address: LocationAddress!
  addressVerified: Boolean!
  createdAt: DateTime!
  deactivatable: Boolean!
  deactivatedAt: String
  deletable: Boolean!
  fulfillmentService: FulfillmentService
  fulfillsOnlineOrders: Boolean!
  hasActiveInventory: Boolean!
  hasUnfulfilledOrders: Boolean!
  id: ID!
  inventoryLevels("""
    + PAGING
    + """, query: String): InventoryLevelConnection!
  isActive: Boolean!
  isFulfillmentService: Boolean!
  legacyResourceId: UnsignedInt64!
  localPickupSettingsV2: DeliveryLocalPickupSettings
"""
    + METAFIELDS
    + """
  name: String!
  shipsInventory: Boolean!
  suggestedAddresses: [LocationSuggestedAddress!]!
  updatedAt: DateTime!
}

type Weight { unit: WeightUnit! value: Float! }
type InventoryItemMeasurement implements Node { id: ID! weight: Weight }
type CountryHarmonizedSystemCode { countryCode: CountryCode! harmonizedSystemCode: String! }

type InventoryItem implements Node & LegacyInteroperability {
  countryCodeOfOrigin: CountryCode
  countryHarmonizedSystemCodes("""
    + PAGING
    + """): CountryHarmonizedSystemCodeConnection!
  createdAt: DateTime!
  harmonizedSystemCode: String
  id: ID!
  inventoryLevels("""
    + PAGING
    + """, query: String): InventoryLevelConnection!
  legacyResourceId: UnsignedInt64!
  measurement: InventoryItemMeasurement!
  provinceCodeOfOrigin: String
  requiresShipping: Boolean!
  sku: String
  tracked: Boolean!
  unitCost: MoneyV2
  updatedAt: DateTime!
  variant: ProductVariant!
}

type InventoryQuantity implements Node {
  id: ID!
  name: String!
  quantity: Int!
  updatedAt: DateTime
}
type InventoryLevel implements Node {
  canDeactivate: Boolean!
  createdAt: DateTime!
  deactivationAlert: String
  id: ID!
  item: InventoryItem!
  location: Location!
  quantities(names: [String!]!): [InventoryQuantity!]!
  updatedAt: DateTime!
}

# --- events -----------------------------------------------------------------------------

enum EventSortKeys { CREATED_AT ID RELEVANCE }
enum EventSubjectType {
  ARTICLE BLOG COLLECTION COMMENT COMPANY COMPANY_LOCATION CUSTOMER DISCOUNT DRAFT_ORDER
  FULFILLMENT_ORDER ORDER PAGE PRICE_RULE PRODUCT PRODUCT_VARIANT UNKNOWN
}
interface Event {
  action: String!
  appTitle: String
  attributeToApp: Boolean!
  attributeToUser: Boolean!
  createdAt: DateTime!
  criticalAlert: Boolean!
  id: ID!
  message: FormattedString!
}
type BasicEvent implements Event & Node {
  action: String!
  additionalContent: JSON
  additionalData: JSON
  appTitle: String
  arguments: JSON
  attributeToApp: Boolean!
  attributeToUser: Boolean!
  createdAt: DateTime!
  criticalAlert: Boolean!
  hasAdditionalContent: Boolean!
  id: ID!
  message: FormattedString!
  secondaryMessage: FormattedString
  subjectId: ID
  subjectType: EventSubjectType
}
type CommentEventAttachment {
  fileExtension: String
  id: ID!
  image: Image
  name: String!
  size: Int!
  url: URL!
}
type StaffMember implements Node {
  email: String!
  firstName: String
  id: ID!
  lastName: String
  name: String!
}
type CommentEvent implements Event & Node {
  action: String!
  appTitle: String
  attachments: [CommentEventAttachment!]!
  attributeToApp: Boolean!
  attributeToUser: Boolean!
  author: StaffMember!
  canDelete: Boolean!
  canEdit: Boolean!
  createdAt: DateTime!
  criticalAlert: Boolean!
  edited: Boolean!
  id: ID!
  message: FormattedString!
  rawMessage: String!
}

# --- orders -----------------------------------------------------------------------------

type TaxLine {
  channelLiable: Boolean
  priceSet: MoneyBag!
  rate: Float
  ratePercentage: Float
  source: String
  title: String!
}
type OrderAdditionalFee implements Node {
  id: ID!
  name: String!
  price: MoneyBag!
  taxLines: [TaxLine!]!
}
type OrderCancellation { staffNote: String }
type ChannelInformation implements Node { channelId: ID! id: ID! }
type CustomerVisit implements Node {
  id: ID!
  landingPage: URL
  occurredAt: DateTime!
  referralCode: String
  referrerUrl: URL
  source: String!
  sourceDescription: String
  sourceType: MarketingTactic
  utmParameters: UTMParameters
}
type UTMParameters {
  campaign: String
  content: String
  medium: String
  source: String
  term: String
}
enum MarketingTactic {
  ABANDONED_CART AD AFFILIATE DIRECT DISPLAY LINK LOYALTY MESSAGE NEWSLETTER NOTIFICATION
  POST RETARGETING SEARCH SEO STOREFRONT_APP TRANSACTIONAL
}
type CustomerJourneySummary {
  customerOrderIndex: Int
  daysToConversion: Int
  firstVisit: CustomerVisit
  lastVisit: CustomerVisit
  ready: Boolean!
}
enum DisputeStatus {
  ACCEPTED CHARGE_REFUNDED LOST NEEDS_RESPONSE UNDER_REVIEW WON
}
enum DisputeType { CHARGEBACK INQUIRY }
type OrderDisputeSummary implements Node {
  id: ID!
  initiatedAs: DisputeType!
  status: DisputeStatus!
}
type BusinessEntityAddress {
  address1: String
  address2: String
  city: String
  countryCode: CountryCode!
  province: String
  zip: String
}
type BusinessEntity implements Node {
  address: BusinessEntityAddress!
  companyName: String
  displayName: String!
  id: ID!
  primary: Boolean!
}
enum OrderReturnStatus {
  INSPECTION_COMPLETE IN_PROGRESS NO_RETURN RETURNED RETURN_FAILED RETURN_REQUESTED
}
enum ShopifyProtectStatus { ACTIVE INACTIVE NOT_PROTECTED PENDING PROTECTED }
enum ShopifyProtectEligibilityStatus { ELIGIBLE NOT_ELIGIBLE PENDING }
type ShopifyProtectOrderEligibility { status: ShopifyProtectEligibilityStatus! }
type ShopifyProtectOrderSummary {
  eligibility: ShopifyProtectOrderEligibility!
  status: ShopifyProtectStatus!
}
type CashRoundingAdjustment { paymentSet: MoneyBag! refundSet: MoneyBag! }

enum DiscountApplicationAllocationMethod { ACROSS EACH ONE }
enum DiscountApplicationTargetSelection { ALL ENTITLED EXPLICIT }
enum DiscountApplicationTargetType { LINE_ITEM SHIPPING_LINE }
type PricingPercentageValue { percentage: Float! }
union PricingValue = MoneyV2 | PricingPercentageValue
"""
    + DISCOUNT_APPLICATIONS
    + """type DiscountAllocation {
  allocatedAmountSet: MoneyBag!
  discountApplication: DiscountApplication!
}
type Duty implements Node {
  countryCodeOfOrigin: CountryCode
  harmonizedSystemCode: String
  id: ID!
  price: MoneyBag!
  taxLines: [TaxLine!]!
}
type LineItemGroup implements Node {
  customAttributes: [Attribute!]!
  id: ID!
  quantity: Int!
  title: String!
  variantId: ID
  variantSku: String
}

extend type LineItem {
  customAttributes: [Attribute!]!
  discountAllocations: [DiscountAllocation!]!
  discountedUnitPriceSet: MoneyBag!
  duties: [Duty!]!
  isGiftCard: Boolean!
  lineItemGroup: LineItemGroup
  requiresShipping: Boolean!
  taxLines(first: Int): [TaxLine!]!
  taxable: Boolean!
  totalDiscountSet: MoneyBag!
  unfulfilledDiscountedTotalSet: MoneyBag!
  unfulfilledOriginalTotalSet: MoneyBag!
}

type ShippingLine {
  carrierIdentifier: String
  code: String
  currentDiscountedPriceSet: MoneyBag!
  custom: Boolean!
  deliveryCategory: String
  discountAllocations: [DiscountAllocation!]!
  discountedPriceSet: MoneyBag!
  id: ID
  isRemoved: Boolean!
  originalPriceSet: MoneyBag!
  phone: String
  shippingRateHandle: String
  source: String
  taxLines: [TaxLine!]!
  title: String!
}

type FulfillmentTrackingInfo { company: String number: String url: URL }
type FulfillmentOriginAddress {
  address1: String
  address2: String
  city: String
  countryCode: String!
  provinceCode: String
  zip: String
}
enum FulfillmentStatus { CANCELLED ERROR FAILURE OPEN PENDING SUCCESS }
enum FulfillmentDisplayStatus {
  ATTEMPTED_DELIVERY CANCELED CARRIER_PICKED_UP CONFIRMED DELAYED DELIVERED FAILURE FULFILLED
  IN_TRANSIT LABEL_PRINTED LABEL_PURCHASED LABEL_VOIDED MARKED_AS_FULFILLED NOT_DELIVERED
  OUT_FOR_DELIVERY PICKED_UP READY_FOR_PICKUP SUBMITTED
}
enum FulfillmentEventStatus {
  ATTEMPTED_DELIVERY CARRIER_PICKED_UP CONFIRMED DELAYED DELIVERED FAILURE IN_TRANSIT
  LABEL_PRINTED LABEL_PURCHASED OUT_FOR_DELIVERY PICKED_UP READY_FOR_PICKUP
}
type FulfillmentEvent implements Node {
  happenedAt: DateTime!
  id: ID!
  status: FulfillmentEventStatus!
}
type FulfillmentLineItem implements Node {
  discountedTotalSet: MoneyBag!
  id: ID!
  lineItem: LineItem!
  originalTotalSet: MoneyBag!
  quantity: Int
}
type Fulfillment implements Node & LegacyInteroperability {
  createdAt: DateTime!
  deliveredAt: DateTime
  displayStatus: FulfillmentDisplayStatus
  estimatedDeliveryAt: DateTime
  events("""
    + PAGING
    + """): FulfillmentEventConnection!
  fulfillmentLineItems("""
    + PAGING
    + """): FulfillmentLineItemConnection!
  fulfillmentOrders("""
    + PAGING
    + """, query: String): FulfillmentOrderConnection!
  id: ID!
  inTransitAt: DateTime
  legacyResourceId: UnsignedInt64!
  location: Location
  name: String!
  order: Order!
  originAddress: FulfillmentOriginAddress
  requiresShipping: Boolean!
  service: FulfillmentService
  status: FulfillmentStatus!
  totalQuantity: Int!
  trackingInfo(first: Int): [FulfillmentTrackingInfo!]!
  updatedAt: DateTime!
}

enum OrderAdjustmentDiscrepancyReason {
  CUSTOMER DAMAGE FULL_RETURN_BALANCING_ADJUSTMENT PENDING_REFUND_DISCREPANCY REFUND_DISCREPANCY
  RESTOCK
}
type OrderAdjustment implements Node {
  amountSet: MoneyBag!
  id: ID!
  reason: OrderAdjustmentDiscrepancyReason
  taxAmountSet: MoneyBag!
}
enum RefundLineItemRestockType { CANCEL LEGACY_RESTOCK NO_RESTOCK RETURN }
type RefundLineItem {
  id: ID
  lineItem: LineItem!
  location: Location
  priceSet: MoneyBag!
  quantity: Int!
  restockType: RefundLineItemRestockType!
  restocked: Boolean!
  subtotalSet: MoneyBag!
  totalTaxSet: MoneyBag!
}
type Refund implements Node & LegacyInteroperability {
  createdAt: DateTime
  id: ID!
  legacyResourceId: UnsignedInt64!
  note: String
  order: Order!
  orderAdjustments("""
    + PAGING
    + """): OrderAdjustmentConnection!
  refundLineItems("""
    + PAGING
    + """): RefundLineItemConnection!
  totalRefundedSet: MoneyBag!
  updatedAt: DateTime!
}

enum OrderTransactionKind {
  AUTHORIZATION CAPTURE CHANGE EMV_AUTHORIZATION REFUND SALE SUGGESTED_REFUND VOID
}
enum OrderTransactionStatus { AWAITING_RESPONSE ERROR FAILURE PENDING SUCCESS UNKNOWN }
enum OrderTransactionErrorCode {
  AMAZON_PAYMENTS_INVALID_PAYMENT_METHOD AMAZON_PAYMENTS_MAX_AMOUNT_CHARGED
  AMAZON_PAYMENTS_MAX_AMOUNT_REFUNDED AMAZON_PAYMENTS_MAX_AUTHORIZATIONS_CAPTURED
  AMAZON_PAYMENTS_MAX_REFUNDS_PROCESSED AMAZON_PAYMENTS_ORDER_REFERENCE_CANCELED
  AMAZON_PAYMENTS_STALE CALL_ISSUER CARD_DECLINED CONFIG_ERROR EXPIRED_CARD GENERIC_ERROR
  INCORRECT_ADDRESS INCORRECT_CVC INCORRECT_NUMBER INCORRECT_PIN INCORRECT_ZIP INVALID_AMOUNT
  INVALID_COUNTRY INVALID_CVC INVALID_EXPIRY_DATE INVALID_NUMBER PAYMENT_METHOD_UNAVAILABLE
  PICK_UP_CARD PROCESSING_ERROR TEST_MODE_LIVE_CARD UNSUPPORTED_FEATURE
}
type TransactionFee implements Node {
  amount: MoneyV2!
  flatFee: MoneyV2!
  flatFeeName: String
  id: ID!
  rate: Decimal!
  rateName: String
  taxAmount: MoneyV2!
  type: String!
}
type ShopifyPaymentsExtendedAuthorization {
  extendedAuthorizationExpiresAt: DateTime!
  standardAuthorizationExpiresAt: DateTime!
}
type ShopifyPaymentsRefundSet { acquirerReferenceNumber: String }
type ShopifyPaymentsTransactionSet {
  extendedAuthorizationSet: ShopifyPaymentsExtendedAuthorization
  refundSet: ShopifyPaymentsRefundSet
}
type CardPaymentDetails {
  avsResultCode: String
  bin: String
  company: String
  cvvResultCode: String
  expirationMonth: Int
  expirationYear: Int
  name: String
  number: String
  paymentMethodName: String
  wallet: DigitalWallet
}
enum DigitalWallet { ANDROID_PAY APPLE_PAY GOOGLE_PAY SHOPIFY_PAY }
type LocalPaymentMethodsPaymentDetails { paymentDescriptor: String paymentMethodName: String }
type ShopPayInstallmentsPaymentDetails { paymentMethodName: String }
union PaymentDetails =
  CardPaymentDetails | LocalPaymentMethodsPaymentDetails | ShopPayInstallmentsPaymentDetails

type OrderTransaction implements Node {
  accountNumber: String
  amountRoundingSet: MoneyBag
  amountSet: MoneyBag!
  authorizationCode: String
  authorizationExpiresAt: DateTime
  createdAt: DateTime!
  errorCode: OrderTransactionErrorCode
  fees: [TransactionFee!]!
  formattedGateway: String
  gateway: String
  id: ID!
  kind: OrderTransactionKind!
  manualPaymentGateway: Boolean!
  manuallyCapturable: Boolean!
  maximumRefundableV2: MoneyV2
  multiCapturable: Boolean!
  order: Order
  parentTransaction: OrderTransaction
  paymentDetails: PaymentDetails
  paymentId: String
  processedAt: DateTime
  receiptJson: JSON
  settlementCurrency: CurrencyCode
  settlementCurrencyRate: Decimal
  shopifyPaymentsSet: ShopifyPaymentsTransactionSet
  status: OrderTransactionStatus!
  test: Boolean!
  totalUnsettledSet: MoneyBag
}

extend type Order implements HasMetafields {
  additionalFees: [OrderAdditionalFee!]!
  app: App
  billingAddress: MailingAddress
  billingAddressMatchesShippingAddress: Boolean!
  canMarkAsPaid: Boolean!
  canNotifyCustomer: Boolean!
  cancellation: OrderCancellation
  capturable: Boolean!
  cartDiscountAmountSet: MoneyBag
  channelInformation: ChannelInformation
  clientIp: String
  confirmationNumber: String
  confirmed: Boolean!
  currentCartDiscountAmountSet: MoneyBag!
  currentShippingPriceSet: MoneyBag!
  currentSubtotalLineItemsQuantity: Int!
  currentSubtotalPriceSet: MoneyBag!
  currentTotalAdditionalFeesSet: MoneyBag
  currentTotalDiscountsSet: MoneyBag!
  currentTotalDutiesSet: MoneyBag
  currentTotalTaxSet: MoneyBag!
  currentTotalWeight: UnsignedInt64!
  customAttributes: [Attribute!]!
  customerAcceptsMarketing: Boolean!
  customerJourneySummary: CustomerJourneySummary
  customerLocale: String
  discountApplications("""
    + PAGING
    + """): DiscountApplicationConnection!
  disputes: [OrderDisputeSummary!]!
  dutiesIncluded: Boolean!
  edited: Boolean!
  estimatedTaxes: Boolean!
  fulfillable: Boolean!
  fulfillments(first: Int): [Fulfillment!]!
  fulfillmentsCount: Count
  fullyPaid: Boolean!
  hasTimelineComment: Boolean!
  merchantBusinessEntity: BusinessEntity!
  merchantOfRecordApp: App
"""
    + METAFIELDS
    + """
  netPaymentSet: MoneyBag!
  number: Int!
  originalTotalAdditionalFeesSet: MoneyBag
  originalTotalDutiesSet: MoneyBag
  originalTotalPriceSet: MoneyBag!
  paymentGatewayNames: [String!]!
  phone: String
  poNumber: String
  refundDiscrepancySet: MoneyBag!
  refundable: Boolean!
  refunds(first: Int): [Refund!]!
  registeredSourceUrl: URL
  requiresShipping: Boolean!
  restockable: Boolean!
  retailLocation: Location
  returnStatus: OrderReturnStatus!
  shippingAddress: MailingAddress
  shippingLine: ShippingLine
  shippingLines("""
    + PAGING
    + """, includeRemovals: Boolean = false): ShippingLineConnection!
  shopifyProtect: ShopifyProtectOrderSummary
  sourceIdentifier: String
  statusPageUrl: URL!
  subtotalLineItemsQuantity: Int!
  taxExempt: Boolean!
  taxLines: [TaxLine!]!
  taxesIncluded: Boolean!
  test: Boolean!
  totalCapturableSet: MoneyBag!
  totalCashRoundingAdjustment: CashRoundingAdjustment!
  totalOutstandingSet: MoneyBag!
  totalReceivedSet: MoneyBag!
  totalRefundedSet: MoneyBag!
  totalRefundedShippingSet: MoneyBag!
  totalShippingPriceSet: MoneyBag!
  totalTipReceivedSet: MoneyBag!
  totalWeight: UnsignedInt64
  transactions(first: Int, capturable: Boolean, manuallyResolvable: Boolean):
    [OrderTransaction!]!
  transactionsCount: Count
  unpaid: Boolean!
}

# --- abandoned checkouts ----------------------------------------------------------------

type AbandonedCheckoutLineItemComponent implements Node {
  id: ID!
  quantity: Int!
  title: String!
  variantTitle: String
}
extend type AbandonedCheckoutLineItem {
  components: [AbandonedCheckoutLineItemComponent!]
  customAttributes: [Attribute!]!
  discountedUnitPriceSet: MoneyBag!
  discountedUnitPriceWithCodeDiscount: MoneyBag!
}
extend type AbandonedCheckout {
  billingAddress: MailingAddress
  shippingAddress: MailingAddress
  taxLines: [TaxLine!]!
  totalDiscountSet: MoneyBag!
  totalDutiesSet: MoneyBag
  totalLineItemsPriceSet: MoneyBag!
  totalTaxSet: MoneyBag
}

# --- fulfillment orders -----------------------------------------------------------------

enum FulfillmentOrderSortKeys { CREATED_AT ID RELEVANCE UPDATED_AT }
enum FulfillmentOrderStatus {
  CANCELLED CLOSED INCOMPLETE IN_PROGRESS ON_HOLD OPEN SCHEDULED
}
enum FulfillmentOrderRequestStatus {
  ACCEPTED CANCELLATION_ACCEPTED CANCELLATION_REJECTED CANCELLATION_REQUESTED CLOSED REJECTED
  SUBMITTED UNSUBMITTED
}
enum FulfillmentOrderAction {
  CANCEL_FULFILLMENT_ORDER CREATE_FULFILLMENT EXTERNAL HOLD MARK_AS_OPEN MERGE MOVE
  RELEASE_HOLD REQUEST_CANCELLATION REQUEST_FULFILLMENT SPLIT
}
enum FulfillmentHoldReason {
  AWAITING_PAYMENT AWAITING_RETURN_ITEMS HIGH_RISK_OF_FRAUD INCORRECT_ADDRESS
  INVENTORY_OUT_OF_STOCK ONLINE_STORE_POST_PURCHASE_CROSS_SELL OTHER UNKNOWN_DELIVERY_DATE
}
enum FulfillmentOrderMerchantRequestKind { CANCELLATION_REQUEST FULFILLMENT_REQUEST }
enum DeliveryMethodType {
  LOCAL NONE PICKUP_POINT PICK_UP RETAIL SHIPPING
}
type FulfillmentOrderSupportedAction { action: FulfillmentOrderAction! externalUrl: URL }
type FulfillmentOrderDestination implements Node {
  address1: String
  address2: String
  city: String
  company: String
  countryCode: CountryCode
  email: String
  firstName: String
  id: ID!
  lastName: String
  location: Location
  phone: String
  province: String
  zip: String
}
type FulfillmentHold implements Node {
  displayReason: String!
  handle: String
  heldByRequestingApp: Boolean!
  id: ID!
  reason: FulfillmentHoldReason!
  reasonNotes: String
}
type FulfillmentOrderInternationalDuties { incoterm: String! }
type DeliveryBrandedPromise { handle: String! name: String! }
type DeliveryMethodAdditionalInformation { instructions: String phone: String }
type DeliveryMethod implements Node {
  additionalInformation: DeliveryMethodAdditionalInformation
  brandedPromise: DeliveryBrandedPromise
  id: ID!
  maxDeliveryDateTime: DateTime
  methodType: DeliveryMethodType!
  minDeliveryDateTime: DateTime
  presentedName: String
  serviceCode: String
  sourceReference: String
}
type FulfillmentOrderAssignedLocation {
  address1: String
  address2: String
  city: String
  countryCode: CountryCode!
  location: Location
  name: String!
  phone: String
  province: String
  zip: String
}
type FulfillmentOrderMerchantRequest implements Node {
  fulfillmentOrder: FulfillmentOrder!
  id: ID!
  kind: FulfillmentOrderMerchantRequestKind!
  message: String
  requestOptions: JSON
  responseData: JSON
  sentAt: DateTime!
}
type FulfillmentOrderLineItem implements Node {
  id: ID!
  lineItem: LineItem!
  remainingQuantity: Int!
  totalQuantity: Int!
}
type FulfillmentOrderLocationForMove {
  availableLineItems("""
    + PAGING
    + """): FulfillmentOrderLineItemConnection!
  availableLineItemsCount: Count!
  location: Location!
  message: String
  movable: Boolean!
  unavailableLineItems("""
    + PAGING
    + """): FulfillmentOrderLineItemConnection!
  unavailableLineItemsCount: Count!
}
type FulfillmentOrder implements Node {
  assignedLocation: FulfillmentOrderAssignedLocation!
  channelId: ID
  createdAt: DateTime!
  deliveryMethod: DeliveryMethod
  destination: FulfillmentOrderDestination
  fulfillAt: DateTime
  fulfillBy: DateTime
  fulfillmentHolds: [FulfillmentHold!]!
  fulfillmentOrdersForMerge("""
    + PAGING
    + """): FulfillmentOrderConnection!
  fulfillments("""
    + PAGING
    + """): FulfillmentConnection!
  id: ID!
  internationalDuties: FulfillmentOrderInternationalDuties
  lineItems("""
    + PAGING
    + """): FulfillmentOrderLineItemConnection!
  locationsForMove("""
    + PAGING
    + """, lineItemIds: [ID!] = [], locationIds: [ID!],
    query: String): FulfillmentOrderLocationForMoveConnection!
  merchantRequests("""
    + PAGING
    + """, kind: FulfillmentOrderMerchantRequestKind):
    FulfillmentOrderMerchantRequestConnection!
  orderId: ID!
  orderName: String!
  orderProcessedAt: DateTime!
  requestStatus: FulfillmentOrderRequestStatus!
  status: FulfillmentOrderStatus!
  supportedActions: [FulfillmentOrderSupportedAction!]!
  updatedAt: DateTime!
}

extend type QueryRoot {
  collection(id: ID!): Collection
  collections("""
    + PAGING
    + """, sortKey: CollectionSortKeys = ID, query: String):
    CollectionConnection!
  currentAppInstallation: AppInstallation!
  events("""
    + PAGING
    + """, sortKey: EventSortKeys = ID, query: String): EventConnection!
  fulfillment(id: ID!): Fulfillment
  fulfillmentOrder(id: ID!): FulfillmentOrder
  fulfillmentOrders("""
    + PAGING
    + """, sortKey: FulfillmentOrderSortKeys = ID, query: String,
    includeClosed: Boolean = false): FulfillmentOrderConnection!
  inventoryItem(id: ID!): InventoryItem
  inventoryItems("""
    + PAGING
    + """, query: String): InventoryItemConnection!
  location(id: ID): Location
  locations("""
    + PAGING
    + """, sortKey: LocationSortKeys = NAME, query: String,
    includeLegacy: Boolean = false, includeInactive: Boolean = false): LocationConnection!
  product(id: ID!): Product
  productVariant(id: ID!): ProductVariant
  productVariants("""
    + PAGING
    + """, sortKey: ProductVariantSortKeys = ID, query: String):
    ProductVariantConnection!
  products("""
    + PAGING
    + """, sortKey: ProductSortKeys = ID, query: String):
    ProductConnection!
}
"""
)
